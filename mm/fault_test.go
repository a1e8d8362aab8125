package mm

import (
	"errors"
	"testing"

	"simkern/bugcheck"
	"simkern/cpu"
	"simkern/internal/simtest"
	"simkern/pagefile"
)

// A code address inside a driver image (system PTEs), not the kernel's.
const driverPC = 0xfffff880_01234000

// An access that cannot be resolved halts the machine with the bugcheck
// Windows would raise, with all four parameters as Microsoft documents
// them (shared/reference/windows-pool-facts.md, section 6.1). Each row's
// setup returns the address to touch and the bugcheck it expects.
func TestUnresolvableFaults(t *testing.T) {
	type access struct {
		va    VA
		write bool
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, m *Machine, c *cpu.CPU) (access, *bugcheck.Error)
	}{
		// 0x50: P1 the address, P2 0 read / 2 write, P3 the code
		// address, P4 why: 0 freed PTE, 2 no page table, 4 non-canonical.
		{
			name: "a read of an address with no page table is 0x50 with P4 2",
			setup: func(t *testing.T, m *Machine, c *cpu.CPU) (access, *bugcheck.Error) {
				va := RegionPagedPool.Base() + 64*gib + 0x10
				return access{va, false}, bugcheck.New(bugcheck.PageFaultInNonpagedArea, uint64(va), 0, c.PC, 2)
			},
		},
		{
			name: "a write to an address with no page table is 0x50 with P2 2",
			setup: func(t *testing.T, m *Machine, c *cpu.CPU) (access, *bugcheck.Error) {
				va := RegionSystemPTEs.Base() + 0x123458
				return access{va, true}, bugcheck.New(bugcheck.PageFaultInNonpagedArea, uint64(va), 2, c.PC, 2)
			},
		},
		{
			name: "the code address in P3 is whatever the CPU is running",
			setup: func(t *testing.T, m *Machine, c *cpu.CPU) (access, *bugcheck.Error) {
				c.PC = driverPC
				va := RegionNonPagedPool.Base() + 100*gib
				return access{va, false}, bugcheck.New(bugcheck.PageFaultInNonpagedArea, uint64(va), 0, driverPC, 2)
			},
		},
		{
			name: "a touch of a freed paged page is 0x50 with P4 0",
			setup: func(t *testing.T, m *Machine, c *cpu.CPU) (access, *bugcheck.Error) {
				va := mustAllocate(t, m, RegionPagedPool, 3)
				if err := m.WriteU64(c, va+PageBytes, 1); err != nil {
					t.Fatal(err)
				}
				m.FreePages(va, 3)
				bad := va + PageBytes + 8
				return access{bad, false}, bugcheck.New(bugcheck.PageFaultInNonpagedArea, uint64(bad), 0, c.PC, 0)
			},
		},
		{
			name: "a write to a freed paged page that was never touched is 0x50 with P2 2, P4 0",
			setup: func(t *testing.T, m *Machine, c *cpu.CPU) (access, *bugcheck.Error) {
				va := mustAllocate(t, m, RegionPagedPool, 1)
				m.FreePages(va, 1)
				return access{va, true}, bugcheck.New(bugcheck.PageFaultInNonpagedArea, uint64(va), 2, c.PC, 0)
			},
		},
		{
			name: "a freed page that was paged out is 0x50 with P4 0",
			setup: func(t *testing.T, m *Machine, c *cpu.CPU) (access, *bugcheck.Error) {
				va := mustAllocate(t, m, RegionPagedPool, 1)
				if err := m.WriteU64(c, va, 1); err != nil {
					t.Fatal(err)
				}
				if n := m.PageOut(va, 1); n != 1 {
					t.Fatalf("PageOut = %d, want 1", n)
				}
				m.FreePages(va, 1)
				return access{va, false}, bugcheck.New(bugcheck.PageFaultInNonpagedArea, uint64(va), 0, c.PC, 0)
			},
		},
		{
			name: "a never-used address next to a mapped one has a page table, so P4 is 0",
			setup: func(t *testing.T, m *Machine, c *cpu.CPU) (access, *bugcheck.Error) {
				va := mustAllocate(t, m, RegionNonPagedPool, 1) + PageBytes
				return access{va, false}, bugcheck.New(bugcheck.PageFaultInNonpagedArea, uint64(va), 0, c.PC, 0)
			},
		},
		{
			name: "a guard page (MM_NOACCESS) is 0x50 with P4 0",
			setup: func(t *testing.T, m *Machine, c *cpu.CPU) (access, *bugcheck.Error) {
				va := mustAllocate(t, m, RegionPagedPool, 1)
				m.setPTE(va, DemandZeroPTE(ProtNoAccess))
				return access{va, true}, bugcheck.New(bugcheck.PageFaultInNonpagedArea, uint64(va), 2, c.PC, 0)
			},
		},
		{
			name: "a non-canonical address is 0x50 with P4 4",
			setup: func(t *testing.T, m *Machine, c *cpu.CPU) (access, *bugcheck.Error) {
				va := VA(0x8000_0000_0000_1000)
				return access{va, false}, bugcheck.New(bugcheck.PageFaultInNonpagedArea, uint64(va), 0, c.PC, 4)
			},
		},
		{
			name: "a write to a non-canonical address is 0x50 with P2 2, P4 4",
			setup: func(t *testing.T, m *Machine, c *cpu.CPU) (access, *bugcheck.Error) {
				va := VA(0x0000_8000_0000_0000)
				return access{va, true}, bugcheck.New(bugcheck.PageFaultInNonpagedArea, uint64(va), 2, c.PC, 4)
			},
		},
		{
			name: "a non-canonical alias of a mapped page is 0x50 with P4 4, not the page",
			setup: func(t *testing.T, m *Machine, c *cpu.CPU) (access, *bugcheck.Error) {
				va := mustAllocate(t, m, RegionNonPagedPool, 1)
				alias := va &^ 0xffff_0000_0000_0000 // bits 63-48 clear, bit 47 set
				return access{alias, false}, bugcheck.New(bugcheck.PageFaultInNonpagedArea, uint64(alias), 0, c.PC, 4)
			},
		},
		{
			name: "a non-canonical address is 0x50 even at DISPATCH_LEVEL",
			setup: func(t *testing.T, m *Machine, c *cpu.CPU) (access, *bugcheck.Error) {
				simtest.Raise(t, c, cpu.DispatchLevel)
				va := VA(0x1234_5678_9abc_def0)
				return access{va, false}, bugcheck.New(bugcheck.PageFaultInNonpagedArea, uint64(va), 0, c.PC, 4)
			},
		},

		// 0x1E: a user-mode address from kernel mode at PASSIVE_LEVEL.
		// P1 STATUS_ACCESS_VIOLATION, P2 the code address, P3 0 read /
		// 1 write, P4 the address.
		{
			name: "a read of a user-mode address at PASSIVE_LEVEL is 0x1E",
			setup: func(t *testing.T, m *Machine, c *cpu.CPU) (access, *bugcheck.Error) {
				va := VA(0x10)
				return access{va, false}, bugcheck.New(bugcheck.KmodeExceptionNotHandled, 0xC0000005, c.PC, 0, uint64(va))
			},
		},
		{
			name: "a write to a user-mode address at APC_LEVEL is 0x1E with P3 1",
			setup: func(t *testing.T, m *Machine, c *cpu.CPU) (access, *bugcheck.Error) {
				simtest.Raise(t, c, cpu.ApcLevel)
				va := VA(0x7ff_fffe_0000)
				return access{va, true}, bugcheck.New(bugcheck.KmodeExceptionNotHandled, 0xC0000005, c.PC, 1, uint64(va))
			},
		},

		// 0xA / 0xD1 at DISPATCH_LEVEL and above: P1 the address, P2 the
		// IRQL, P3 0 read / 1 write, P4 the code address. 0xA when the
		// code is the kernel's, 0xD1 when it is a driver's.
		{
			name: "a trimmed pageable page read at DISPATCH_LEVEL by the kernel is 0xA",
			setup: func(t *testing.T, m *Machine, c *cpu.CPU) (access, *bugcheck.Error) {
				va := trimmedPage(t, m, c) + 0x28
				simtest.Raise(t, c, cpu.DispatchLevel)
				return access{va, false}, bugcheck.New(bugcheck.IrqlNotLessOrEqual, uint64(va), 2, 0, cpu.KernelImageBase)
			},
		},
		{
			name: "a trimmed pageable page written at DISPATCH_LEVEL by a driver is 0xD1",
			setup: func(t *testing.T, m *Machine, c *cpu.CPU) (access, *bugcheck.Error) {
				va := trimmedPage(t, m, c)
				simtest.Raise(t, c, cpu.DispatchLevel)
				c.PC = driverPC
				return access{va, true}, bugcheck.New(bugcheck.DriverIrqlNotLessOrEqual, uint64(va), 2, 1, driverPC)
			},
		},
		{
			name: "the last byte of the kernel image is still the kernel",
			setup: func(t *testing.T, m *Machine, c *cpu.CPU) (access, *bugcheck.Error) {
				va := trimmedPage(t, m, c)
				simtest.Raise(t, c, cpu.DispatchLevel)
				c.PC = cpu.KernelImageEnd - 1
				return access{va, false}, bugcheck.New(bugcheck.IrqlNotLessOrEqual, uint64(va), 2, 0, cpu.KernelImageEnd-1)
			},
		},
		{
			name: "the first byte past the kernel image is a driver",
			setup: func(t *testing.T, m *Machine, c *cpu.CPU) (access, *bugcheck.Error) {
				va := trimmedPage(t, m, c)
				simtest.Raise(t, c, cpu.DispatchLevel)
				c.PC = cpu.KernelImageEnd
				return access{va, false}, bugcheck.New(bugcheck.DriverIrqlNotLessOrEqual, uint64(va), 2, 0, cpu.KernelImageEnd)
			},
		},
		{
			name: "the pool manager's code at DISPATCH_LEVEL is 0xC5, from its first byte",
			setup: func(t *testing.T, m *Machine, c *cpu.CPU) (access, *bugcheck.Error) {
				va := trimmedPage(t, m, c)
				simtest.Raise(t, c, cpu.DispatchLevel)
				c.PC = cpu.PoolCodeStart
				return access{va, true}, bugcheck.New(bugcheck.DriverCorruptedExpool, uint64(va), 2, 1, cpu.PoolCodeStart)
			},
		},
		{
			name: "the pool manager's code ends before PoolCodeEnd: the kernel's again, 0xA",
			setup: func(t *testing.T, m *Machine, c *cpu.CPU) (access, *bugcheck.Error) {
				va := trimmedPage(t, m, c)
				simtest.Raise(t, c, cpu.DispatchLevel)
				c.PC = cpu.PoolCodeEnd
				return access{va, false}, bugcheck.New(bugcheck.IrqlNotLessOrEqual, uint64(va), 2, 0, cpu.PoolCodeEnd)
			},
		},
		{
			name: "a paged-out page at DISPATCH_LEVEL is 0xA, not an in-page read",
			setup: func(t *testing.T, m *Machine, c *cpu.CPU) (access, *bugcheck.Error) {
				va := trimmedPage(t, m, c)
				if n := m.PageOut(va, 1); n != 1 {
					t.Fatalf("PageOut = %d, want 1", n)
				}
				simtest.Raise(t, c, cpu.DispatchLevel)
				return access{va, false}, bugcheck.New(bugcheck.IrqlNotLessOrEqual, uint64(va), 2, 0, c.PC)
			},
		},
		{
			name: "a never-touched paged page at DISPATCH_LEVEL is 0xA, not a demand-zero fault",
			setup: func(t *testing.T, m *Machine, c *cpu.CPU) (access, *bugcheck.Error) {
				va := mustAllocate(t, m, RegionPagedPool, 1)
				simtest.Raise(t, c, cpu.DispatchLevel)
				return access{va, true}, bugcheck.New(bugcheck.IrqlNotLessOrEqual, uint64(va), 2, 1, c.PC)
			},
		},
		{
			name: "an unmapped address at DISPATCH_LEVEL is 0xD1 from a driver, not 0x50",
			setup: func(t *testing.T, m *Machine, c *cpu.CPU) (access, *bugcheck.Error) {
				simtest.Raise(t, c, cpu.DispatchLevel)
				c.PC = driverPC
				va := RegionPagedPool.Base() + 100*gib
				return access{va, false}, bugcheck.New(bugcheck.DriverIrqlNotLessOrEqual, uint64(va), 2, 0, driverPC)
			},
		},
		{
			name: "a NULL dereference at DISPATCH_LEVEL is 0xD1 from a driver",
			setup: func(t *testing.T, m *Machine, c *cpu.CPU) (access, *bugcheck.Error) {
				simtest.Raise(t, c, cpu.DispatchLevel)
				c.PC = driverPC
				return access{0x8, false}, bugcheck.New(bugcheck.DriverIrqlNotLessOrEqual, 0x8, 2, 0, driverPC)
			},
		},
		{
			name: "P2 is the IRQL of the access, here HIGH_LEVEL",
			setup: func(t *testing.T, m *Machine, c *cpu.CPU) (access, *bugcheck.Error) {
				va := trimmedPage(t, m, c)
				simtest.Raise(t, c, cpu.HighLevel)
				return access{va, true}, bugcheck.New(bugcheck.IrqlNotLessOrEqual, uint64(va), 15, 1, c.PC)
			},
		},
	}
	// Each access is made twice: as an 8-byte access, and through Page,
	// whose callers rely on its page being nil exactly when it fails.
	for _, tt := range tests {
		for _, viaPage := range []bool{false, true} {
			name := tt.name
			if viaPage {
				name += " (through Page)"
			}
			t.Run(name, func(t *testing.T) {
				m := newMachine(t, machineSpec{})
				c := m.cpu0()
				a, want := tt.setup(t, m, c)
				check(t, m)

				var err error
				switch {
				case viaPage:
					var page []byte
					if page, err = m.Page(c, a.va, a.write); page != nil {
						t.Errorf("Page returned a page along with %v", err)
					}
				case a.write:
					err = m.WriteU64(c, a.va, 0x1122334455667788)
				default:
					_, err = m.ReadU64(c, a.va)
				}
				wantBugcheck(t, "the access", err, want.Code, want.P)
				check(t, m)
				requireHalted(t, m, err)
			})
		}
	}
}

// requireHalted checks that a machine halted by err refuses all further
// work with that same bugcheck, even accesses that would have been fine.
func requireHalted(t *testing.T, m *Machine, err error) {
	t.Helper()
	var first *bugcheck.Error
	if !errors.As(err, &first) {
		t.Fatalf("not a bugcheck: %v", err)
	}
	if m.Halted() != first {
		t.Fatalf("Halted() = %v, want the bugcheck the access returned, %v", m.Halted(), first)
	}
	// Lower the IRQL and run kernel code again: nothing may succeed anyway.
	for _, c := range m.CPUs.CPUs {
		if c.IRQL() > cpu.PassiveLevel {
			if err := c.Lower(cpu.PassiveLevel); err != nil {
				t.Fatal(err)
			}
		}
		c.PC = cpu.KernelImageBase
	}
	c := m.cpu0()
	good := RegionNonPagedPool.Base() // mapped below only if allocation worked before the halt
	var buf [16]byte
	later := map[string]error{}
	_, later["ReadU64"] = m.ReadU64(c, good)
	later["WriteU64"] = m.WriteU64(c, good, 1)
	later["Read"] = m.Read(c, good, buf[:])
	later["Write"] = m.Write(c, good, buf[:])
	later["Fill"] = m.Fill(c, good, 0xaa, 16)
	for op, e := range later {
		var bc *bugcheck.Error
		if !errors.As(e, &bc) || bc != first {
			t.Errorf("%s after the halt returned %v, want the same bugcheck %v", op, e, first)
		}
	}
	if va := m.AllocatePages(RegionNonPagedPool, 1, 0, true); va != 0 {
		t.Errorf("AllocatePages after the halt = %v, want 0", va)
	}
	// The trimmer and the writers leave the crashed machine's memory as
	// it was, for the debugger.
	before := m.Stats()
	for op, n := range map[string]int{
		"TrimAll": m.TrimAll(), "Trim": m.Trim(RegionPagedPool.Base(), 16), "WriteModified": m.WriteModified(),
		"PageOut": m.PageOut(RegionPagedPool.Base(), 16), "PageOutAll": m.PageOutAll(),
		"WriteModifiedRange": m.WriteModifiedRange(RegionPagedPool.Base(), 16),
	} {
		if n != 0 {
			t.Errorf("%s after the halt = %d, want 0", op, n)
		}
	}
	if after := m.Stats(); after != before {
		t.Errorf("the trimmer and writers changed a halted machine:\nbefore %+v\nafter  %+v", before, after)
	}
	if m.Halt(bugcheck.New(bugcheck.NoPagesAvailable, 1, 2, 3, 4)) != first {
		t.Errorf("a second Halt replaced the first bugcheck")
	}
}

// trimmedPage returns a paged pool page that was written and then trimmed:
// its PTE is a transition PTE, so a touch is a soft fault.
func trimmedPage(t *testing.T, m *Machine, c *cpu.CPU) VA {
	t.Helper()
	va := mustAllocate(t, m, RegionPagedPool, 1)
	if err := m.WriteU64(c, va, 0xfeed); err != nil {
		t.Fatal(err)
	}
	if n := m.Trim(va, 1); n != 1 {
		t.Fatalf("Trim = %d, want 1", n)
	}
	if p := m.PTE(va); !p.Transition() {
		t.Fatalf("PTE after Trim = %#x, want a transition PTE", uint64(p))
	}
	return va
}

// The same pages that bugcheck at DISPATCH_LEVEL are fine at PASSIVE_LEVEL
// and APC_LEVEL, where a fault may wait for the disk.
func TestFaultsResolveBelowDispatch(t *testing.T) {
	tests := []struct {
		name    string
		irql    cpu.IRQL
		prepare func(t *testing.T, m *Machine, c *cpu.CPU, va VA)
		// The one fault counter that must move, by one.
		counter func(s Stats) uint64
	}{
		{
			name:    "a never-touched page gets a zeroed frame",
			prepare: func(t *testing.T, m *Machine, c *cpu.CPU, va VA) {},
			counter: func(s Stats) uint64 { return s.DemandZeroFaults },
		},
		{
			name:    "a trimmed page comes back with a soft fault",
			prepare: func(t *testing.T, m *Machine, c *cpu.CPU, va VA) { m.Trim(va, 1) },
			counter: func(s Stats) uint64 { return s.SoftFaults },
		},
		{
			name:    "a paged-out page comes back with a hard fault",
			prepare: func(t *testing.T, m *Machine, c *cpu.CPU, va VA) { m.PageOut(va, 1) },
			counter: func(s Stats) uint64 { return s.HardFaults },
		},
		{
			name:    "at APC_LEVEL a paged-out page still comes back",
			irql:    cpu.ApcLevel,
			prepare: func(t *testing.T, m *Machine, c *cpu.CPU, va VA) { m.PageOut(va, 1) },
			counter: func(s Stats) uint64 { return s.HardFaults },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(t, machineSpec{})
			c := m.cpu0()
			va := mustAllocate(t, m, RegionPagedPool, 1)
			var want uint64
			if tt.counter(Stats{DemandZeroFaults: 1}) == 0 { // not the demand-zero row
				want = 0xabcdef
				if err := m.WriteU64(c, va, want); err != nil {
					t.Fatal(err)
				}
			}
			tt.prepare(t, m, c, va)
			simtest.Raise(t, c, tt.irql)
			before := tt.counter(m.Stats())
			got, err := m.ReadU64(c, va)
			if err != nil {
				t.Fatalf("ReadU64: %v", err)
			}
			if got != want {
				t.Errorf("read %#x, want %#x", got, want)
			}
			if n := tt.counter(m.Stats()) - before; n != 1 {
				t.Errorf("the fault counter moved by %d, want 1", n)
			}
			if !m.PTE(va).Valid() {
				t.Errorf("PTE after the fault = %#x, want valid", uint64(m.PTE(va)))
			}
			check(t, m)
		})
	}
}

// A pageable page that is resident needs no fault, so DISPATCH_LEVEL is
// fine, for reads and writes, on any CPU.
func TestResidentPageablePageAtDispatchIsFine(t *testing.T) {
	m := newMachine(t, machineSpec{cpus: 2})
	c0, c1 := m.CPUs.CPUs[0], m.CPUs.CPUs[1]
	va := mustAllocate(t, m, RegionPagedPool, 1)
	if err := m.WriteU64(c0, va, 7); err != nil {
		t.Fatal(err)
	}
	simtest.Raise(t, c1, cpu.DispatchLevel)
	c1.PC = driverPC
	if got, err := m.ReadU64(c1, va); err != nil || got != 7 {
		t.Fatalf("ReadU64 at DISPATCH_LEVEL = %#x, %v; want 7, nil", got, err)
	}
	if err := m.WriteU64(c1, va+8, 8); err != nil {
		t.Fatalf("WriteU64 at DISPATCH_LEVEL: %v", err)
	}
	if m.Halted() != nil {
		t.Fatalf("halted: %v", m.Halted())
	}
	s := m.Stats()
	if s.SoftFaults+s.HardFaults != 0 || s.DemandZeroFaults != 1 {
		t.Errorf("faults: %d soft, %d hard, %d demand-zero; want only the first touch", s.SoftFaults, s.HardFaults, s.DemandZeroFaults)
	}
}

// A failed in-page read of kernel data is 0x7A in the form Windows uses for
// a pagefile-backed PTE: P1 the PTE's address, P2 the I/O status, P3 the
// PTE's contents, P4 the faulting address.
func TestInPageReadErrorIs0x7A(t *testing.T) {
	m := newMachine(t, machineSpec{})
	c := m.cpu0()
	page := mustAllocate(t, m, RegionPagedPool, 2)
	if err := m.WriteU64(c, page, 0x5a5a); err != nil {
		t.Fatal(err)
	}
	if n := m.PageOut(page, 1); n != 1 {
		t.Fatalf("PageOut = %d, want 1", n)
	}
	pte := m.PTE(page)
	if !pte.Software() || pte.Slot() == 0 {
		t.Fatalf("PTE after PageOut = %#x, want a pagefile PTE", uint64(pte))
	}
	m.Pagefile.Inject(pagefile.Fault{Op: pagefile.OpRead, Nth: 1, Status: 0xC000009C})

	va := page + 0x18
	_, err := m.ReadU64(c, va)
	wantBugcheck(t, "reading the paged-out page", err, bugcheck.KernelDataInpageError,
		[4]uint64{uint64(LevelPTE.EntryAddress(va)), 0xC000009C, uint64(pte), uint64(va)})
	if got, want := uint64(LevelPTE.EntryAddress(va)), uint64(0xfffff6fc_50000000); got != want {
		t.Errorf("P1 = %#x, want %#x (the first page of paged pool)", got, want)
	}
	if s := m.Stats(); s.ReadErrors != 1 || s.HardFaults != 0 {
		t.Errorf("ReadErrors %d, HardFaults %d; want 1 and 0", s.ReadErrors, s.HardFaults)
	}
	if m.PTE(page) != pte {
		t.Errorf("PTE after the failed read = %#x, want it unchanged %#x", uint64(m.PTE(page)), uint64(pte))
	}
	check(t, m)
	requireHalted(t, m, err)
}

// The special pool's hook decides first, even above DISPATCH_LEVEL; when it
// declines, the ordinary rules apply.
func TestSpecialPoolHook(t *testing.T) {
	m := newMachine(t, machineSpec{})
	c := m.cpu0()
	guard := RegionSpecialPool.Base() + 5*PageBytes
	var calls int
	m.SpecialPoolFault = func(hc *cpu.CPU, va VA, write bool) *bugcheck.Error {
		calls++
		if va == guard {
			return bugcheck.New(bugcheck.PageFaultBeyondEndOfAllocation, uint64(va), WriteBit(write), hc.PC, 0)
		}
		return nil
	}

	other := RegionSpecialPool.Base() + 9*PageBytes
	_, err := m.ReadU64(c, other)
	wantBugcheck(t, "a special pool page the hook declines", err, bugcheck.PageFaultInNonpagedArea, [4]uint64{uint64(other), 0, c.PC, 2})

	m = newMachine(t, machineSpec{})
	c = m.cpu0()
	m.SpecialPoolFault = func(hc *cpu.CPU, va VA, write bool) *bugcheck.Error {
		calls++
		return bugcheck.New(bugcheck.PageFaultBeyondEndOfAllocation, uint64(va), WriteBit(write), hc.PC, 0)
	}
	simtest.Raise(t, c, cpu.DispatchLevel)
	err = m.WriteU64(c, guard, 1)
	wantBugcheck(t, "a guard page at DISPATCH_LEVEL", err, bugcheck.PageFaultBeyondEndOfAllocation, [4]uint64{uint64(guard), 1, c.PC, 0})
	if calls != 2 {
		t.Errorf("the hook ran %d times, want 2", calls)
	}

	// The hook is not asked about other regions.
	m = newMachine(t, machineSpec{})
	m.SpecialPoolFault = func(*cpu.CPU, VA, bool) *bugcheck.Error {
		t.Errorf("hook asked about a paged pool address")
		return nil
	}
	va := RegionPagedPool.Base()
	_, err = m.ReadU64(m.cpu0(), va)
	wantBugcheck(t, "paged pool with the hook set", err, bugcheck.PageFaultInNonpagedArea, [4]uint64{uint64(va), 0, m.cpu0().PC, 2})
}

// Halt empties every TLB, so a page a CPU had cached refuses access too:
// the hit paths never ask whether the machine halted.
func TestHaltRefusesCachedPages(t *testing.T) {
	m := newMachine(t, machineSpec{cpus: 2})
	va := mustAllocate(t, m, RegionNonPagedPool, 1)
	for _, c := range m.CPUs.CPUs {
		if err := m.WriteU64(c, va, 7); err != nil { // cached, dirty, on each CPU
			t.Fatal(err)
		}
		if c.TLB.Cached(uint64(va), true) == nil {
			t.Fatalf("CPU %d: the page is not cached after a write", c.Number)
		}
	}
	first := bugcheck.New(bugcheck.IrqlNotLessOrEqual, 1, 2, 3, 4)
	m.Halt(first)
	for _, c := range m.CPUs.CPUs {
		_, rerr := m.ReadU64(c, va)
		page, perr := m.Page(c, va, false)
		if page != nil {
			t.Errorf("CPU %d: Page of a cached page after the halt returned its bytes", c.Number)
		}
		for op, err := range map[string]error{"ReadU64": rerr, "WriteU64": m.WriteU64(c, va, 8), "Page": perr} {
			if err != first {
				t.Errorf("CPU %d: %s of a cached page after the halt = %v, want %v", c.Number, op, err, first)
			}
		}
	}
}

// An unaligned 8-byte read walks the tables (it may straddle pages): it
// counts one miss and no hit, even when the page is cached.
func TestUnalignedReadCountsOneMiss(t *testing.T) {
	m := newMachine(t, machineSpec{})
	c := m.cpu0()
	va := mustAllocate(t, m, RegionNonPagedPool, 1)
	if err := m.WriteU64(c, va, 7); err != nil {
		t.Fatal(err)
	}
	hits, misses := c.TLB.Hits, c.TLB.Misses
	if _, err := m.ReadU64(c, va+3); err != nil {
		t.Fatal(err)
	}
	if c.TLB.Hits != hits || c.TLB.Misses != misses+1 {
		t.Errorf("an unaligned read counted %d hits and %d misses, want 0 and 1", c.TLB.Hits-hits, c.TLB.Misses-misses)
	}
}
