package verifier

import "simkern/pool"

// Snapshot is the verifier's state as a crash dump holds it, for
// !verifier on the dump. The random generator and the systematic mode's
// record of call sites are not kept: a dump is for looking at.
type Snapshot struct {
	Settings   Settings
	Stats      Stats
	Injections []Injection
	Drivers    []DriverSnapshot // in name order
}

// DriverSnapshot is one driver's record: Driver's, with its PoolUse
// counters spelt out, because gob matches fields by name and dumps
// written before the allocation counts and peaks were kept name the bytes
// NonPagedBytes and PagedBytes. Those dumps decode with the other counters
// 0, and Restore makes up for it.
type DriverSnapshot struct {
	Name                                          string
	Unloaded                                      bool
	Allocations                                   []Allocation // in address order
	NonPagedBytes, PagedBytes                     uint64
	NonPagedAllocations, PagedAllocations         uint64
	PeakNonPagedAllocations, PeakPagedAllocations uint64
	PeakNonPagedBytes, PeakPagedBytes             uint64
}

// Snapshot copies the verifier's state.
func (v *Verifier) Snapshot() *Snapshot {
	s := &Snapshot{Settings: v.Settings, Stats: v.Stats, Injections: append([]Injection(nil), v.Injections...)}
	for _, d := range v.Drivers() {
		np, paged := d.NonPaged, d.Paged
		s.Drivers = append(s.Drivers, DriverSnapshot{Name: d.Name, Unloaded: d.Unloaded, Allocations: d.Allocations(),
			NonPagedBytes: np.Bytes, PagedBytes: paged.Bytes,
			NonPagedAllocations: np.Allocations, PagedAllocations: paged.Allocations,
			PeakNonPagedAllocations: np.PeakAllocations, PeakPagedAllocations: paged.PeakAllocations,
			PeakNonPagedBytes: np.PeakBytes, PeakPagedBytes: paged.PeakBytes})
	}
	return s
}

// Restore rebuilds a verifier on p (a pool restored from the same dump).
//
// A dump written before the allocation counts and peaks were kept holds
// only the bytes. Its counts are then those of the recorded allocations
// (all of them with pool tracking, none without: what !verifier 3 printed
// when it was written), and its peaks the current values, the least they
// can have been. For any later dump the counts and peaks it holds already
// are at least that, so the same rule leaves them as they are.
func Restore(p *pool.Pool, s *Snapshot) *Verifier {
	v := New(p, s.Settings, 0)
	v.Stats = s.Stats
	v.Injections = append([]Injection(nil), s.Injections...)
	for _, ds := range s.Drivers {
		d := v.driver(ds.Name)
		d.Unloaded = ds.Unloaded
		d.NonPaged = PoolUse{Allocations: ds.NonPagedAllocations, Bytes: ds.NonPagedBytes,
			PeakAllocations: ds.PeakNonPagedAllocations, PeakBytes: ds.PeakNonPagedBytes}
		d.Paged = PoolUse{Allocations: ds.PagedAllocations, Bytes: ds.PagedBytes,
			PeakAllocations: ds.PeakPagedAllocations, PeakBytes: ds.PeakPagedBytes}
		var listedNonPaged, listedPaged uint64
		for _, a := range ds.Allocations {
			d.Outstanding[a.VA] = a
			v.live[a.VA] = a
			v.owner[a.VA] = ds.Name
			if a.Type.Paged() {
				listedPaged++
			} else {
				listedNonPaged++
			}
		}
		d.NonPaged.atLeast(listedNonPaged)
		d.Paged.atLeast(listedPaged)
	}
	return v
}

// atLeast raises a restored record to what its dump shows for certain:
// the allocations it lists, and peaks no lower than the current values.
func (u *PoolUse) atLeast(listed uint64) {
	u.Allocations = max(u.Allocations, listed)
	u.PeakAllocations = max(u.PeakAllocations, u.Allocations)
	u.PeakBytes = max(u.PeakBytes, u.Bytes)
}
