package mm

import (
	"errors"

	"simkern/bugcheck"
	"simkern/cpu"
	"simkern/pagefile"
)

// Status codes the memory manager reports.
const (
	StatusAccessViolation = 0xC0000005
	StatusIODeviceError   = 0xC0000185
)

// fault resolves an access to va whose translation is not valid, or
// returns the bugcheck it amounts to. p is va's PTE when the walk reached
// the leaf (leaf true), else the invalid entry of level missing.
//
// The order of the checks is the order that decides the code:
//
//	non-canonical address             0x50, P4 = 4
//	user-mode address                 0xA/0xD1 at DISPATCH_LEVEL and above, else 0x1E
//	special pool (guard, freed page)  what the pool's hook says
//	IRQL >= DISPATCH_LEVEL            0xA (kernel code) / 0xD1 (driver code)
//	no page table                     0x50, P4 = 2
//	zero or no-access PTE             0x50, P4 = 0
//	transition PTE                    soft fault
//	pagefile PTE                      hard fault (0x7A if the read fails)
//	demand-zero PTE                   a zeroed frame
//
// A transition or pagefile PTE the PFN database or the pagefile does not
// back (corruptPTE) is 0x1A/0x41792 instead of a fault resolved.
func (m *Machine) fault(c *cpu.CPU, va VA, write bool, p PTE, missing Level, leaf bool) *bugcheck.Error {
	rw50 := uint64(0)
	if write {
		rw50 = 2
	}
	if !va.Canonical() {
		return bugcheck.New(bugcheck.PageFaultInNonpagedArea, uint64(va), rw50, c.PC, 4).At("MmAccessFault: non-canonical")
	}
	if !va.Kernel() {
		if c.IRQL() >= cpu.DispatchLevel {
			return irqlFault(c, va, write)
		}
		return bugcheck.New(bugcheck.KmodeExceptionNotHandled, StatusAccessViolation, c.PC, WriteBit(write), uint64(va)).At("MmAccessFault: user address")
	}
	if m.SpecialPoolFault != nil && RegionOf(va) == RegionSpecialPool {
		if e := m.SpecialPoolFault(c, va, write); e != nil {
			return e
		}
	}
	if c.IRQL() >= cpu.DispatchLevel {
		return irqlFault(c, va, write)
	}
	switch {
	case !leaf:
		return bugcheck.New(bugcheck.PageFaultInNonpagedArea, uint64(va), rw50, c.PC, 2).At("MmAccessFault: no page table")
	case p == 0 || p.Software() && p.Protection() == ProtNoAccess:
		return bugcheck.New(bugcheck.PageFaultInNonpagedArea, uint64(va), rw50, c.PC, 0).At("MmAccessFault: freed PTE")
	case p.Transition():
		if !m.inTransition(va, p) {
			return corruptPTE(LevelPTE.EntryAddress(va), p)
		}
		m.softFault(va, p)
		return nil
	case p.Slot() != 0:
		if !m.slotHolds(p.Slot(), va.PageBase()) {
			return corruptPTE(LevelPTE.EntryAddress(va), p)
		}
		return m.hardFault(c, va, p)
	default:
		return m.demandZeroFault(c, va, p)
	}
}

// WriteBit is a fault bugcheck's read/write parameter (0xA and 0xD1's
// P3, special pool's 0xCD and 0xD6's P2): 1 for a write, 0 for a read.
func WriteBit(write bool) uint64 {
	if write {
		return 1
	}
	return 0
}

// irqlFault is the bugcheck for a fault that cannot be resolved because the
// CPU is at DISPATCH_LEVEL or above: 0xD1 when a driver's code made the
// access, 0xA when the kernel's did, and 0xC5 when the kernel code was the
// pool manager's, as KeBugCheckEx renames it.
func irqlFault(c *cpu.CPU, va VA, write bool) *bugcheck.Error {
	code := bugcheck.DriverIrqlNotLessOrEqual
	switch {
	case cpu.InPoolCode(c.PC):
		code = bugcheck.DriverCorruptedExpool
	case cpu.InKernel(c.PC):
		code = bugcheck.IrqlNotLessOrEqual
	}
	return bugcheck.New(code, uint64(va), uint64(c.IRQL()), WriteBit(write), c.PC).At("MmAccessFault: IRQL")
}

// inTransition reports whether the transition PTE p at va names the frame
// that is on the standby or modified list for va's page.
func (m *Machine) inTransition(va VA, p PTE) bool {
	if m.badFrame(p) {
		return false
	}
	e := m.entry(p.Frame())
	return (e.State == StateStandby || e.State == StateModified) && e.VA == va.PageBase()
}

// softFault takes a transition page's frame back from the standby or
// modified list: no I/O.
func (m *Machine) softFault(va VA, p PTE) {
	f := p.Frame()
	m.makeResident(f, va.PageBase())
	m.setPTE(va, ValidPTE(f, p.Protection().nx()))
	m.stats.SoftFaults++
}

// ioStatus is the NTSTATUS a failed pagefile operation reports: the
// injected fault's status, or STATUS_IO_DEVICE_ERROR for a host error.
func ioStatus(err error) uint32 {
	if ioe := (*pagefile.IOError)(nil); errors.As(err, &ioe) {
		return ioe.Status
	}
	return StatusIODeviceError
}

// makeResident moves f, a fresh frame from getFrame or one back from
// standby or modified, to the working set as an Active pageable frame.
func (m *Machine) makeResident(f PFN, page VA) {
	m.entry(f).VA = page
	m.setState(f, StateActive, true)
}

// frameFor gets a frame for a fault on va, whose PTE was p. Making room
// may trim, write out and free other pages; if that changed va's own PTE
// (a corruption left another frame or an idle page standing for va) or
// halted the machine, the frame goes back and the fault is not resolved.
func (m *Machine) frameFor(c *cpu.CPU, va VA, p PTE, zero bool) (PFN, *bugcheck.Error) {
	f, ok := m.getFrame(c.Node, zero)
	switch {
	case !ok:
		return 0, m.noPages()
	case m.halted != nil:
		m.releaseFrame(f)
		return 0, m.halted
	case m.pteOf(va) != p:
		m.releaseFrame(f)
		return 0, corruptPTE(LevelPTE.EntryAddress(va), m.pteOf(va))
	}
	return f, nil
}

// hardFault reads a page back from its pagefile slot into a new frame.
func (m *Machine) hardFault(c *cpu.CPU, va VA, p PTE) *bugcheck.Error {
	f, err := m.frameFor(c, va, p, false)
	if err != nil {
		return err
	}
	slot := p.Slot()
	if err := m.Pagefile.Read(slot, m.frameData(f)); err != nil {
		m.noteIO(err)
		m.releaseFrame(f)
		return bugcheck.New(bugcheck.KernelDataInpageError, uint64(LevelPTE.EntryAddress(va)), uint64(ioStatus(err)), uint64(p), uint64(va)).At("MiResolvePageFileFault")
	}
	m.entry(f).Slot = slot
	m.Pagefile.SetOwner(slot, slotOwner(va.PageBase(), true))
	m.makeResident(f, va.PageBase())
	m.setPTE(va, ValidPTE(f, p.Protection().nx()))
	m.stats.HardFaults++
	return nil
}

// demandZeroFault gives a never-touched pageable page a zeroed frame.
func (m *Machine) demandZeroFault(c *cpu.CPU, va VA, p PTE) *bugcheck.Error {
	f, err := m.frameFor(c, va, p, true)
	if err != nil {
		return err
	}
	m.entry(f).Modified = true // no pagefile copy yet
	m.makeResident(f, va.PageBase())
	m.setPTE(va, ValidPTE(f, p.Protection().nx()))
	m.stats.DemandZeroFaults++
	return nil
}

// noPages is NO_PAGES_AVAILABLE: a fault needs a frame and nothing can be
// freed, written out or trimmed.
func (m *Machine) noPages() *bugcheck.Error {
	dirtyForPagefile := uint64(0)
	if m.Pagefile != nil {
		dirtyForPagefile = m.modified.count
	}
	return bugcheck.New(bugcheck.NoPagesAvailable, m.modified.count, dirtyForPagefile,
		m.regions[RegionNonPagedPool].idlePages(), uint64(m.stats.LastWriteStatus)).At("MiResolveFault: no frame")
}
