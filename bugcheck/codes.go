package bugcheck

import "fmt"

// Code is a bugcheck code, the first argument of KeBugCheckEx.
type Code uint32

// The codes simkern raises. Names are Windows' own, in Go form.
const (
	IrqlNotGreaterOrEqual                Code = 0x09
	IrqlNotLessOrEqual                   Code = 0x0A
	BadPoolHeader                        Code = 0x19
	MemoryManagement                     Code = 0x1A
	KmodeExceptionNotHandled             Code = 0x1E
	MustSucceedPoolEmpty                 Code = 0x41
	NoPagesAvailable                     Code = 0x4D
	PageFaultInNonpagedArea              Code = 0x50
	KernelDataInpageError                Code = 0x7A
	SpecialPoolDetectedMemoryCorruption  Code = 0xC1
	BadPoolCaller                        Code = 0xC2
	DriverVerifierDetectedViolation      Code = 0xC4
	DriverCorruptedExpool                Code = 0xC5
	PageFaultInFreedSpecialPool          Code = 0xCC
	PageFaultBeyondEndOfAllocation       Code = 0xCD
	DriverIrqlNotLessOrEqual             Code = 0xD1
	DriverPageFaultInFreedSpecialPool    Code = 0xD5
	DriverPageFaultBeyondEndOfAllocation Code = 0xD6
)

// info describes one code: its name, what it means, and what its four
// parameters mean. args may look at the parameters, because families like
// 0x19 and 0xC2 change meaning with P1.
type info struct {
	name string
	text string
	args func(p [4]uint64) [4]string
}

// fixed returns an args function for a code whose parameters always mean
// the same.
func fixed(a1, a2, a3, a4 string) func([4]uint64) [4]string {
	a := [4]string{a1, a2, a3, a4}
	return func([4]uint64) [4]string { return a }
}

// accessArgs is shared by the codes whose parameters describe a memory
// access: the address, read or write, and the code that did it.
var accessArgs = fixed("memory referenced", "value 0 = read operation, 1 = write operation",
	"if non-zero, the address which referenced memory.", "(reserved)")

// irqlAccessArgs is shared by 0xC5 and 0xD1, whose parameters describe an
// access at a raised IRQL: the address, the IRQL, read or write, and the
// code that did it. 0xA's differ: its third is a bitfield.
var irqlAccessArgs = fixed("memory referenced", "IRQL", "value 0 = read operation, 1 = write operation",
	"address which referenced memory")

var codes = map[Code]info{
	IrqlNotGreaterOrEqual: {
		name: "IRQL_NOT_GREATER_OR_EQUAL",
		text: "KeRaiseIrql was asked to raise the IRQL to a level below the current one.",
		args: fixed("current IRQL", "requested IRQL", "", ""),
	},
	IrqlNotLessOrEqual: {
		name: "IRQL_NOT_LESS_OR_EQUAL",
		text: "Kernel code touched pageable (or invalid) memory at an IRQL too high\n" +
			"to wait for a page fault to be resolved, or lowered the IRQL to a level\n" +
			"above the current one.",
		args: fixed("memory referenced", "IRQL", "bitfield :\n\tbit 0 : value 0 = read operation, 1 = write operation\n\tbit 3 : value 0 = not an execute operation, 1 = execute operation",
			"address which referenced memory"),
	},
	BadPoolHeader: {
		name: "BAD_POOL_HEADER",
		text: "A pool header is corrupt.",
		args: badPoolHeaderArgs,
	},
	MemoryManagement: {
		name: "MEMORY_MANAGEMENT",
		text: "The memory manager found its own structures inconsistent.",
		args: memoryManagementArgs,
	},
	KmodeExceptionNotHandled: {
		name: "KMODE_EXCEPTION_NOT_HANDLED",
		text: "Kernel-mode code raised an exception (here: an access violation on a\n" +
			"user-mode address) that no handler caught.",
		args: fixed("The exception code that was not handled", "The address that the exception occurred at",
			"Parameter 0 of the exception", "Parameter 1 of the exception"),
	},
	MustSucceedPoolEmpty: {
		name: "MUST_SUCCEED_POOL_EMPTY",
		text: "A must-succeed pool allocation could not be satisfied. No driver is\n" +
			"permitted to ask for must-succeed pool.",
		// Microsoft's page words P2 and P3 as pages used and requests
		// larger than a page; the kernel passes its descriptor's page
		// counts, and the labels say what is passed.
		args: fixed("size of the request that could not be satisfied", "pages of small blocks in nonpaged pool",
			"pages of large allocations in nonpaged pool", "number of pages available"),
	},
	NoPagesAvailable: {
		name: "NO_PAGES_AVAILABLE",
		text: "No free pages are left to resolve a fault, and nothing can be paged out\n" +
			"to make room.",
		args: fixed("total number of dirty pages", "number of dirty pages destined for the pagefile",
			"size of nonpaged pool available at the time of the bugcheck (in pages)",
			"most recent modified write error status"),
	},
	PageFaultInNonpagedArea: {
		name: "PAGE_FAULT_IN_NONPAGED_AREA",
		text: "Invalid system memory was referenced. This cannot be protected by\n" +
			"try-except. Typical causes are a freed or never-allocated address, or a\n" +
			"bad pointer.",
		args: func(p [4]uint64) [4]string {
			return [4]string{"memory referenced.",
				"value 0 = read operation, 2 = write operation, 0x10 = execute operation.",
				"If non-zero, the instruction address which referenced the bad memory\n\taddress.",
				"type of page fault: " + faultTypeName(p[3])}
		},
	},
	KernelDataInpageError: {
		name: "KERNEL_DATA_INPAGE_ERROR",
		text: "The requested page of kernel data could not be read in from the\n" +
			"pagefile.",
		args: fixed("address of the PTE", "error status (I/O status code)", "PTE contents", "faulting address"),
	},
	SpecialPoolDetectedMemoryCorruption: {
		name: "SPECIAL_POOL_DETECTED_MEMORY_CORRUPTION",
		text: "Special pool found that memory around an allocation was written, or a\n" +
			"free or allocation was made that it cannot accept.",
		args: specialPoolArgs,
	},
	BadPoolCaller: {
		name: "BAD_POOL_CALLER",
		text: "The current thread is making a bad pool request: at a bad IRQL, freeing\n" +
			"the same allocation twice, or with bad arguments.",
		args: badPoolCallerArgs,
	},
	DriverVerifierDetectedViolation: {
		name: "DRIVER_VERIFIER_DETECTED_VIOLATION",
		text: "A driver under Driver Verifier broke a rule that the verifier checks.",
		args: verifierArgs,
	},
	DriverCorruptedExpool: {
		name: "DRIVER_CORRUPTED_EXPOOL",
		text: "The system pool was corrupted, most likely by a driver, and the damage\n" +
			"was found at an IRQL too high to recover.",
		args: irqlAccessArgs,
	},
	PageFaultInFreedSpecialPool: {
		name: "PAGE_FAULT_IN_FREED_SPECIAL_POOL",
		text: "Memory in special pool was referenced after it was freed.",
		args: accessArgs,
	},
	PageFaultBeyondEndOfAllocation: {
		name: "PAGE_FAULT_BEYOND_END_OF_ALLOCATION",
		text: "An access ran past the end of a special pool allocation into its guard\n" +
			"page.",
		args: accessArgs,
	},
	DriverIrqlNotLessOrEqual: {
		name: "DRIVER_IRQL_NOT_LESS_OR_EQUAL",
		text: "A driver touched pageable (or invalid) memory at an IRQL too high to wait\n" +
			"for a page fault. This is usually a driver using a bad address, or pageable\n" +
			"data at DISPATCH_LEVEL or above.",
		args: irqlAccessArgs,
	},
	DriverPageFaultInFreedSpecialPool: {
		name: "DRIVER_PAGE_FAULT_IN_FREED_SPECIAL_POOL",
		text: "A driver referenced special pool memory after freeing it.",
		args: accessArgs,
	},
	DriverPageFaultBeyondEndOfAllocation: {
		name: "DRIVER_PAGE_FAULT_BEYOND_END_OF_ALLOCATION",
		text: "A driver allocated n bytes of special pool and referenced more than n.",
		args: accessArgs,
	},
}

// faultTypeName names the P4 of 0x50 (the NONPAGED_BUGCHECK_* constant).
func faultTypeName(p4 uint64) string {
	switch p4 {
	case 0:
		return "NONPAGED_BUGCHECK_FREED_PTE"
	case 2:
		return "NONPAGED_BUGCHECK_NOT_PRESENT_PAGE_TABLE"
	case 4:
		return "NONPAGED_BUGCHECK_VA_NOT_CANONICAL"
	}
	return "unknown"
}

func badPoolHeaderArgs(p [4]uint64) [4]string {
	switch p[0] {
	case 0x2:
		return [4]string{"", "pool entry being checked", "size of the pool block", ""}
	case 0x3:
		return [4]string{"the pool freelist is corrupt", "the pool entry being checked",
			"the read back flink freelist value", "the read back blink freelist value"}
	case 0x5:
		return [4]string{"adjacent pool headers contradict each other", "one of the pool entries", "(reserved)", "the other pool entry"}
	case 0x6:
		return [4]string{"a pool header's previous size is too large", "the incorrectly calculated entry", "(reserved)", "the bad entry"}
	case 0x7:
		return [4]string{"a pool header's size is corrupt (first block not page aligned)", "0", "(reserved)", "the bad pool entry"}
	case 0x8:
		return [4]string{"a pool header's size is zero", "0", "(reserved)", "the bad pool entry"}
	case 0x9:
		return [4]string{"a pool header's size is too large", "the incorrectly calculated entry", "(reserved)", "the bad entry"}
	case 0xA:
		return [4]string{"the page walk did not end at the page end", "the pool entry that should have been found",
			"(reserved)", "the virtual address of the page that should have contained it"}
	case 0x20:
		return [4]string{"the next pool header disagrees about this block's size", "the pool entry that should have been found",
			"the next pool entry", "(reserved)"}
	case 0x21:
		return [4]string{"the data following the pool block being freed is corrupt (an overrun)",
			"the pool pointer being freed", "the number of bytes allocated for the pool block",
			"the corrupted value found following the pool block"}
	case 0x22:
		return [4]string{"", "the address being freed", "(reserved)", "(reserved)"}
	}
	return [4]string{}
}

func badPoolCallerArgs(p [4]uint64) [4]string {
	switch p[0] {
	case 0x00:
		return [4]string{"The caller is requesting a zero byte pool allocation.", "zero", "the pool type being allocated", "the pool tag being used"}
	case 0x01, 0x02, 0x04:
		return [4]string{"Pool header has been corrupted", "Pointer to pool header", "First part of pool header contents", "0"}
	case 0x06:
		return [4]string{"Attempt to free pool which was already freed", "(reserved)", "Pointer to pool header", "Pool header contents"}
	case 0x07:
		return [4]string{"Attempt to free pool which was already freed", "(reserved)", "Memory contents of the pool block", "Address of the block of pool being deallocated"}
	case 0x08:
		return [4]string{"Attempt to allocate pool at invalid IRQL", "Current IRQL", "Pool type", "Size of allocation"}
	case 0x09:
		return [4]string{"Attempt to free pool at invalid IRQL", "Current IRQL", "Pool type", "Address of pool"}
	case 0x0A:
		return [4]string{"Attempt to free pool with the wrong tag", "Address of pool", "Allocator's tag", "Tag used in the attempted free"}
	case 0x40:
		return [4]string{"Attempt to free usermode address to kernel pool", "Starting address", "Start of system address space", "0"}
	case 0x42, 0x43:
		return [4]string{"Attempt to free a virtual address which was never in any pool", "Address being freed", "0", "0"}
	case 0x44:
		return [4]string{"Attempt to free a non-allocated nonpaged pool address", "Starting address", "(reserved)", "0"}
	case 0x46:
		return [4]string{"Attempt to free an invalid pool address", "Starting address", "0", "0"}
	case 0x48:
		return [4]string{"Attempt to free a non-allocated paged pool address", "Starting address", "(reserved)", "(reserved)"}
	case 0x99:
		return [4]string{"Attempt to free pool with an invalid address (or the pool header is corrupt)", "Address being freed", "0", "0"}
	case 0x9B:
		return [4]string{"Attempt to allocate pool with a tag of zero", "Pool type", "Number of bytes requested", "Caller's address"}
	case 0x9C:
		return [4]string{"Attempt to allocate pool with a tag of \"BIG\"", "Pool type", "Number of bytes requested", "Caller's address"}
	case 0x9D:
		return [4]string{"Attempt to allocate pool with a tag that has no letters or digits", "Incorrect pool tag", "Pool type", "Caller's address"}
	case 0x41286:
		return [4]string{"Attempt to free a paged pool address in the middle of an allocation", "(reserved)", "(reserved)", "Start offset from paged pool start, in pages"}
	}
	return [4]string{}
}

func memoryManagementArgs(p [4]uint64) [4]string {
	switch p[0] {
	case 0x41792:
		return [4]string{"A corrupted PTE has been detected", "Address of the PTE", "Low bits of the PTE", "High bits of the PTE"}
	case 0x61941:
		return [4]string{"The paging hierarchy is corrupt", "The address whose page tables are missing", "(reserved)", "(reserved)"}
	}
	return [4]string{"type of memory management violation"}
}

func specialPoolArgs(p [4]uint64) [4]string {
	switch p[3] {
	case 0x20:
		return [4]string{"address the driver tried to free", "(reserved)", "0", "free of pool that was not allocated"}
	case 0x21, 0x22:
		return [4]string{"address the driver tried to free", "bytes requested", "bytes calculated (actually given)", "an incorrect address was freed"}
	case 0x23:
		return [4]string{"address the driver tried to free", "address where bits are corrupted", "(reserved)", "the driver wrote the bytes in front of its allocation"}
	case 0x24:
		return [4]string{"address the driver tried to free", "address where bits are corrupted", "(reserved)", "the driver wrote past the end of its allocation"}
	case 0x30:
		return [4]string{"current IRQL", "pool type", "number of bytes", "allocation at an incorrect IRQL"}
	case 0x31:
		return [4]string{"current IRQL", "pool type", "address the driver tried to free", "free at an incorrect IRQL"}
	}
	return [4]string{}
}

func verifierArgs(p [4]uint64) [4]string {
	switch p[0] {
	case 0x00:
		return [4]string{"caller is trying to allocate zero bytes", "current IRQL", "pool type", "number of bytes"}
	case 0x01:
		return [4]string{"caller is trying to allocate paged pool at DISPATCH_LEVEL or above", "current IRQL", "pool type", "number of bytes"}
	case 0x02:
		return [4]string{"caller is trying to allocate nonpaged pool at an IRQL above DISPATCH_LEVEL", "current IRQL", "pool type", "number of bytes"}
	case 0x03:
		return [4]string{"caller is trying to allocate more than one page of must succeed pool", "current IRQL", "pool type", "number of bytes"}
	case 0x10:
		return [4]string{"caller is freeing an address that no allocation returned", "(reserved)", "(reserved)", "(reserved)"}
	case 0x11:
		return [4]string{"caller is trying to free paged pool at DISPATCH_LEVEL or above", "current IRQL", "pool type", "address of pool"}
	case 0x12:
		return [4]string{"caller is trying to free nonpaged pool at an IRQL above DISPATCH_LEVEL", "current IRQL", "pool type", "address of pool"}
	case 0x13, 0x14:
		return [4]string{"caller is freeing pool that was already freed", "(reserved)", "pointer to pool header", "pool header contents"}
	case 0x30:
		return [4]string{"caller is raising the IRQL to a lower level", "current IRQL", "requested IRQL", "0"}
	case 0x31:
		return [4]string{"caller is lowering the IRQL to a higher level", "current IRQL", "requested IRQL", "0"}
	case 0x51:
		return [4]string{"caller is freeing pool after writing past the end of it", "base address of the allocation",
			"address of the reference beyond the allocation", "number of charged bytes"}
	case 0x62:
		return [4]string{"A driver has forgotten to free its pool allocations prior to unloading.",
			"name of the driver having the issue.", "verifier internal structure with driver information.",
			"total # of (paged+nonpaged) allocations that weren't freed.\n    Type !verifier 3 drivername.sys for info on the allocations\n    that were leaked that caused the bugcheck."}
	}
	return [4]string{}
}

// Name returns the Windows name of a code, or "BUGCHECK_0x%X" for a code
// simkern does not know.
func (c Code) Name() string {
	if i, ok := codes[c]; ok {
		return i.name
	}
	return fmt.Sprintf("BUGCHECK_0x%X", uint32(c))
}

// Description is a few lines, in simkern's words, on what the code means.
func (c Code) Description() string { return codes[c].text }

// ArgMeanings returns what each of p means for this code.
func (c Code) ArgMeanings(p [4]uint64) [4]string {
	if i, ok := codes[c]; ok {
		return i.args(p)
	}
	return [4]string{}
}
