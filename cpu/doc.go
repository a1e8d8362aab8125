// Package cpu simulates the processors: their IRQL, their NUMA node, the
// code address they are running, and a small software TLB each.
//
// A CPU is a plain struct that one goroutine drives at a time; the
// scenario engine interleaves simulated threads by switching which CPU it
// hands to the lower layers, so nothing here takes a lock.
//
// IRQL. Each CPU has an interrupt request level from 0 (PASSIVE_LEVEL) to
// 15 (HIGH_LEVEL), with the x64 names. Raise and Lower follow the HAL's
// rules: KeRaiseIrql to a level below the current one halts the machine
// with IRQL_NOT_GREATER_OR_EQUAL (0x9: P1 the current level, P2 the
// requested one), and KeLowerIrql to a level above it with
// IRQL_NOT_LESS_OR_EQUAL (0xA: P1 the requested level, P2 the current one).
// That is the HAL's checked-build behaviour; a retail x64 kernel inlines
// both as a write to CR8 and checks nothing.
//
// Code addresses. PC is the address of the code the CPU is executing, the
// "address which referenced memory" that 0xA, 0xD1 and 0x50 report. An
// address inside the kernel image range (KernelImageBase..KernelImageEnd)
// is the kernel; anything else is a driver, which is how the memory manager
// chooses between 0xA and 0xD1, as Windows does from the faulting RIP. The
// pool manager's code has a range of its own inside the image
// (PoolCodeStart..PoolCodeEnd): Windows turns a 0xA there into 0xC5, since
// the pool faults at a raised IRQL only when a corrupted pool misleads it.
//
// TLB. A direct-mapped cache of 2048 virtual page → frame translations, looked
// up by the memory manager before it walks the page tables. An entry holds
// a pointer to the frame's bytes, so a hit costs one compare. The memory
// manager invalidates an entry on every CPU (a shootdown) whenever the PTE
// behind it changes, and flushes every TLB when something else writes a
// page table (a write through the self-map, a flipped bit).
//
// NUMA. N CPUs are spread over M nodes evenly and in order: with 4 CPUs and
// 2 nodes, CPUs 0-1 are node 0 and 2-3 node 1.
package cpu
