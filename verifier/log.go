package verifier

import (
	"simkern/cpu"
	"simkern/internal/ring"
	"simkern/mm"
)

// The verifier's logs: what verified drivers did lately, the newest entry
// overwriting the oldest, for !verifier 4 (fault injection), 8 (IRQL
// changes) and 0x80 (pool allocations and frees). Every entry carries the
// verifier's event number, one count shared by the three logs, so entries
// of different logs can be put in order; it stands where Windows keeps a
// time stamp. Windows keeps its logs in pool; these are Go values, since
// no check reads them.

// Log bounds, as Windows keeps them.
const (
	PoolLogEntries      = 0x10000
	IrqlLogEntries      = 0x100
	InjectionLogEntries = 0x80
)

// PoolLogEntry is one allocation or free in the pool log: by a verified
// driver, or of a block a verified driver allocated.
type PoolLogEntry struct {
	Event  uint64
	VA     mm.VA
	Bytes  uint64 // as requested
	Caller uint64 // the code address that called the pool: the driver's, or the kernel's
	CPU    int
	Free   bool
}

// IrqlLogEntry is one IRQL change by a verified driver.
type IrqlLogEntry struct {
	Event    uint64
	Caller   uint64
	CPU      int
	Old, New cpu.IRQL
}

// logs are the verifier's three logs.
type logs struct {
	events     uint64 // the last event number given
	pool       ring.Ring[PoolLogEntry]
	irql       ring.Ring[IrqlLogEntry]
	injections ring.Ring[Injection]
}

func newLogs() logs {
	return logs{pool: ring.New[PoolLogEntry](PoolLogEntries), irql: ring.New[IrqlLogEntry](IrqlLogEntries),
		injections: ring.New[Injection](InjectionLogEntries)}
}

// event numbers the next entry.
func (l *logs) event() uint64 {
	l.events++
	return l.events
}

func (v *Verifier) logPool(c *cpu.CPU, va mm.VA, n uint64, free bool) {
	v.logs.pool.Add(PoolLogEntry{Event: v.logs.event(), VA: va, Bytes: n, Caller: c.PC, CPU: c.Number, Free: free})
}

// PoolLog returns the last n entries of the pool log, newest first, and
// how many were ever logged.
func (v *Verifier) PoolLog(n int) ([]PoolLogEntry, uint64) {
	return v.logs.pool.Newest(n), v.logs.pool.Total()
}

// IrqlLog returns the last n IRQL changes, newest first, and how many
// were ever logged.
func (v *Verifier) IrqlLog(n int) ([]IrqlLogEntry, uint64) {
	return v.logs.irql.Newest(n), v.logs.irql.Total()
}

// InjectionLog returns the last n injected failures, newest first, and
// how many were ever made.
func (v *Verifier) InjectionLog(n int) ([]Injection, uint64) {
	return v.logs.injections.Newest(n), v.logs.injections.Total()
}
