package cpu

import (
	"fmt"

	"simkern/bugcheck"
)

// Code addresses of the kernel image (ntoskrnl). A PC outside this range
// belongs to a driver. Drivers load in the system PTE region above it.
const (
	KernelImageBase uint64 = 0xfffff800_02a00000
	KernelImageEnd  uint64 = 0xfffff800_03000000
)

// InKernel reports whether pc is inside the kernel image.
func InKernel(pc uint64) bool { return pc >= KernelImageBase && pc < KernelImageEnd }

// The pool manager's code inside the kernel image (Windows'
// ExPoolCodeStart to ExPoolCodeEnd): a fault it takes at a raised IRQL is
// reported as the pool corruption that led it astray.
const (
	PoolCodeStart = KernelImageBase + 0x1b0000
	PoolCodeEnd   = KernelImageBase + 0x1b4000
)

// InPoolCode reports whether pc is inside the pool manager's code.
func InPoolCode(pc uint64) bool { return pc >= PoolCodeStart && pc < PoolCodeEnd }

// CPU is one simulated processor.
type CPU struct {
	Number int // 0..N-1
	Node   int // NUMA node

	irql IRQL

	// PC is the address of the code running on this CPU: what a fault
	// reports as the address which referenced memory. Callers set it
	// before they act for a driver; the pool sets it while it runs.
	PC uint64

	TLB TLB

	// Pool is the pool manager's per-processor state (its lookaside
	// lists), the part of the KPRCB it owns. Only the pool touches it.
	Pool any
}

// IRQL returns the current interrupt request level.
func (c *CPU) IRQL() IRQL { return c.irql }

// Raise is KeRaiseIrql: it returns the old level. Raising to a lower
// level is IRQL_NOT_GREATER_OR_EQUAL.
func (c *CPU) Raise(to IRQL) (IRQL, error) {
	old := c.irql
	if to > MaxIRQL || to < old {
		return old, bugcheck.New(bugcheck.IrqlNotGreaterOrEqual, uint64(old), uint64(to), 0, 0).At("KeRaiseIrql")
	}
	c.irql = to
	return old, nil
}

// Lower is KeLowerIrql. Lowering to a higher level is IRQL_NOT_LESS_OR_EQUAL.
func (c *CPU) Lower(to IRQL) error {
	if to > c.irql {
		return bugcheck.New(bugcheck.IrqlNotLessOrEqual, uint64(to), uint64(c.irql), 0, c.PC).At("KeLowerIrql")
	}
	c.irql = to
	return nil
}

// Set is the machine's processors.
type Set struct {
	CPUs  []*CPU
	Nodes int
}

// MaxCPUs bounds a machine's processor count.
const MaxCPUs = 256

// NewSet makes n CPUs spread over nodes NUMA nodes evenly and in order:
// CPU i is on node i*nodes/n (docs/scenarios.md shows what that gives).
func NewSet(n, nodes int) (*Set, error) {
	if n < 1 || n > MaxCPUs {
		return nil, fmt.Errorf("cpus: %d: want 1 to %d", n, MaxCPUs)
	}
	if nodes < 1 || nodes > n {
		return nil, fmt.Errorf("numa_nodes: %d: want 1 to the number of CPUs (%d)", nodes, n)
	}
	s := &Set{CPUs: make([]*CPU, n), Nodes: nodes}
	for i := range s.CPUs {
		s.CPUs[i] = &CPU{Number: i, Node: i * nodes / n, PC: KernelImageBase}
	}
	return s, nil
}

// Shootdown invalidates va's translation on every CPU.
func (s *Set) Shootdown(va uint64) {
	for _, c := range s.CPUs {
		c.TLB.Invalidate(va)
	}
}

// FlushAll flushes every CPU's TLB.
func (s *Set) FlushAll() {
	for _, c := range s.CPUs {
		c.TLB.Flush()
	}
}

// SetIRQL sets the level without KeRaiseIrql's and KeLowerIrql's rules:
// only for loading a crash dump, whose CPUs were halted at that level.
func (c *CPU) SetIRQL(l IRQL) { c.irql = l }
