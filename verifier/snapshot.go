package verifier

import (
	"simkern/internal/ring"
	"simkern/pool"
)

// Snapshot is the verifier's state as a crash dump holds it, for
// !verifier on the dump. The random generator and the systematic mode's
// record of call sites are not kept: a dump is for looking at.
type Snapshot struct {
	Settings Settings
	Stats    Stats
	Drivers  []DriverSnapshot // in name order

	// The logs, oldest entry first, and the entries ever logged (the
	// injections: Stats.FailedDeliberately).
	Events                 uint64
	PoolLog                []PoolLogEntry
	IrqlLog                []IrqlLogEntry
	InjectionLog           []Injection
	PoolLogged, IrqlLogged uint64
}

// DriverSnapshot is one driver's record.
type DriverSnapshot struct {
	Name            string
	Unloaded        bool
	Allocations     []Allocation // in address order
	NonPaged, Paged PoolUse
}

// Snapshot copies the verifier's state.
func (v *Verifier) Snapshot() *Snapshot {
	l := &v.logs
	s := &Snapshot{Settings: v.Settings, Stats: v.Stats, Events: l.events,
		PoolLog: l.pool.All(), IrqlLog: l.irql.All(), InjectionLog: l.injections.All(),
		PoolLogged: l.pool.Total(), IrqlLogged: l.irql.Total()}
	for _, d := range v.Drivers() {
		s.Drivers = append(s.Drivers, DriverSnapshot{Name: d.Name, Unloaded: d.Unloaded, Allocations: d.Allocations(),
			NonPaged: d.NonPaged, Paged: d.Paged})
	}
	return s
}

// Restore rebuilds a verifier on p (a pool restored from the same dump).
func Restore(p *pool.Pool, s *Snapshot) *Verifier {
	v := New(p, s.Settings, 0)
	v.Stats = s.Stats
	v.logs = logs{events: s.Events, pool: ring.Restore(PoolLogEntries, s.PoolLog, s.PoolLogged),
		irql:       ring.Restore(IrqlLogEntries, s.IrqlLog, s.IrqlLogged),
		injections: ring.Restore(InjectionLogEntries, s.InjectionLog, s.Stats.FailedDeliberately)}
	for _, ds := range s.Drivers {
		d := v.driver(ds.Name)
		d.Unloaded = ds.Unloaded
		d.NonPaged, d.Paged = ds.NonPaged, ds.Paged
		for _, a := range ds.Allocations {
			d.Outstanding[a.VA] = a
			v.live[a.VA] = liveAllocation{a, d}
		}
	}
	return v
}
