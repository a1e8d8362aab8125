// Package pagefile simulates the machine's pagefile: a real host file cut
// into page-sized slots, where the memory manager keeps the only copy of a
// page it has taken out of RAM.
//
// The pieces, one line each:
//
//	Pagefile    the host file, the slot bitmap, the counters and the faults
//	slotChunk   one piece of the bitmap: chunkSlots bits, how many are set, owners
//	Fault       a planned I/O failure, asked before every Read and Write
//	IOError     what a Read or Write returns when a Fault fires
//
// Slot lifecycle. A slot is free or in use, and only the memory manager
// moves it. The modified page writer calls Allocate for a dirty page that
// has no slot yet, Write copies the frame out, and the page's PTE (once the
// frame is repurposed) records the slot. A hard fault calls Read to bring
// the page back. When the page is freed or rewritten somewhere else, mm
// calls Release and the slot is free again:
//
//	Free   -> InUse   Allocate (always the lowest free slot)
//	InUse  -> InUse   Write, Read, SetOwner (any number of times)
//	InUse  -> Free    Release
//
// Each slot in use also records its owner, a nonzero word the caller
// chooses and the pagefile does not interpret (Owner reports 0 for a free
// slot). mm
// records the page the slot holds and whether a frame still holds it too,
// and follows a pagefile PTE only to a slot its own page owns: a PTE that
// a scenario copied from another page, or a bit flip bent, is then a
// bugcheck rather than two frames sharing one slot and freeing it twice.
// Owners live in the chunks beside the bits (8 bytes a slot, so a chunk
// is about 33 KiB), made only where slots are in use.
//
// Allocate always hands out the lowest free slot, so the same scenario with
// the same seed puts the same pages in the same slots, and !vm, dumps and
// golden files do not change from run to run. Reading, writing or owning
// a slot that is not in use, releasing one twice, or an owner of 0, is a
// bug in simkern rather than in the simulated kernel, so those panic.
//
// The reserved slot. Slot 0 is never handed out. In simkern's pagefile PTE
// (mm/pte.go) a slot field of 0 means "demand zero": the page has never
// been written and a fault on it gets a zeroed frame. A page stored in slot
// 0 could not be told apart from one that was never touched, so slot 0
// holds no data; Slots counts it, Stats.Used never does, and Open wants
// room for at least one real slot beside it. The slot field is 32 bits wide
// (Windows' PageFileHigh), which is where MaxSlots comes from.
//
// The sparse bitmap. Host memory follows the slots in use, not the size of
// the pagefile: a 64 GiB pagefile (16M slots) that holds ten pages must cost
// tens of kilobytes, because scenarios ask for big pagefiles and run
// thousands of seeds. The bitmap is therefore two levels, as the Go runtime
// keeps its heap arena map: a top-level array with one pointer per
// chunkSlots slots, and a chunk (chunkSlots bits, a count of the bits set,
// and the slots' owners) allocated the first time one of its slots is
// taken. A chunk that becomes empty again is dropped, and one spare is kept
// so a page that goes in and out does not churn the Go heap. Allocate
// starts at a hint, the lowest slot that might be free (every slot from 1
// up to the hint is in use), skips chunks whose count says they are full,
// and scans the rest a 64-bit word at a time.
// The host file works the same way: Open sizes it with Truncate, so it is
// sparse, disk use follows the slots written, and a slot never written
// reads back as zeros. A temporary file loses its name as soon as it is
// open (where the host allows it), so a run that is killed leaves no
// pagefile behind; the disk space goes with the process.
//
// Fault injection. Every Read and Write asks the active Faults first; this
// is the one seam through which scenarios make the disk fail. A Fault
// fails either the Nth operation of its kind (counted over the pagefile's
// life, failed operations included; it fires once) or each operation with
// a probability, drawn from the machine's seeded generator: exactly one
// Float64 per operation while a probability fault for that kind is active,
// so a seed replays the same failures. Fired faults are numbered 1, 2, 3...
// and the number travels in the IOError, so the report can say which fault
// brought the machine down. An injected failure happens before any I/O:
// a failed Write leaves the slot's old contents, a failed Read leaves the
// caller's buffer untouched. (A failure of the host itself is wrapped and
// returned as it is; a failed Read still leaves the buffer untouched, but a
// failed host Write may have reached the disk in part.)
//
// What a failure means above. A failed Read is a failed in-page: the page
// cannot be brought back, and when it is kernel data mm halts the machine
// with KERNEL_DATA_INPAGE_ERROR (0x7A), P2 the IOError's Status. A failed
// Write is not fatal: the page stays dirty on the modified list, keeps its
// frame, and the modified page writer tries it again later, as Windows does
// after a failed paging write.
//
// Concurrency. A Pagefile is not safe for concurrent use. Like a CPU, it is
// driven by one goroutine at a time (the scenario engine's), so it takes no
// lock. Nothing in it reads the wall clock or ranges over a map.
package pagefile
