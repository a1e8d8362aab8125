package mm

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"simkern/bugcheck"
	"simkern/cpu"
	"simkern/pagefile"
)

// Config describes the machine to build.
type Config struct {
	RAMBytes      uint64 // physical memory; rounded down to whole frames
	PagefileBytes uint64 // 0: no pagefile
	PagefilePath  string // "": a temporary file that leaves nothing behind
	CPUs          *cpu.Set
	Rand          *rand.Rand // the machine's one seeded generator
}

// Limits on a machine's size: a simulated machine is cheap when untouched,
// but its frame directory still costs 8 bytes per 512 frames.
const (
	MinRAMBytes = 1 << 20
	MaxRAMBytes = 1 << 40
)

// nodeFrames is one NUMA node's share of physical memory. Frames below
// next have been handed out at least once and have PFN entries; frames from
// next to end are untouched and count as zeroed.
type nodeFrames struct {
	first, next, end uint64
	zeroed, free     pfnList
}

// Machine is the simulated memory manager and the hardware under it.
type Machine struct {
	CPUs     *cpu.Set
	Rand     *rand.Rand
	Pagefile *pagefile.Pagefile // nil when the machine has none

	frames uint64 // physical frames
	chunks []*frameChunk
	nodes  []nodeFrames

	// Lists of frames no node owns. The working set holds Active pageable
	// frames in the order they became resident: the trimmer takes the
	// oldest first.
	standby, modified, workingSet pfnList
	activeNonpageable             uint64

	pml4 PFN

	regions [numRegions]*vaRegion

	commitPages, commitLimitPages uint64

	// SpecialPoolFault, when set, decides what an access to a not-valid
	// page of the special pool region means (the pool installs it). It
	// runs before the IRQL check, as Windows checks for special pool
	// first, and returns the bugcheck to raise.
	SpecialPoolFault func(c *cpu.CPU, va VA, write bool) *bugcheck.Error

	// WriteFailed, when set, is told the status of each failed pagefile
	// write as it fails: a run logs each injected error with its own
	// status, where LastWriteStatus keeps only the last of a step's.
	WriteFailed func(status uint32)

	stats  Stats
	halted *bugcheck.Error
	// hostErr is the first pagefile I/O the host itself failed (a full
	// disk), not a fault a scenario planned: see HostError.
	hostErr error
	// rangePages counts the PTEs that operations on a range of pages
	// have visited: see RangePages.
	rangePages uint64
}

// RangePages counts the pages that mapping, unmapping, trimming or paging
// out a range of pages has visited, a PTE each, since the machine was
// built. It measures the work such operations do, which grows with the
// range whether or not its pages were ever touched (a 4 GiB allocation
// maps a million pages), so a runner can bound it.
func (m *Machine) RangePages() uint64 { return m.rangePages }

// HostError returns the first pagefile read or write the host failed, as
// opposed to one a planned fault failed (pagefile.IOError), or nil. The
// simulated machine treats it as it would a planned one (a write leaves
// the page modified, a read is 0x7A), but what it does from then on says
// more about the host's disk than about the scenario: a runner should stop
// and report it.
func (m *Machine) HostError() error { return m.hostErr }

// noteIO records err, from the pagefile, if the host failed it.
func (m *Machine) noteIO(err error) {
	if ioe := (*pagefile.IOError)(nil); m.hostErr == nil && !errors.As(err, &ioe) {
		m.hostErr = err
	}
}

// New builds a machine. Nothing is materialised beyond the top-level page
// table: frames and PFN entries appear as they are first used.
func New(cfg Config) (*Machine, error) {
	if cfg.RAMBytes < MinRAMBytes || cfg.RAMBytes > MaxRAMBytes {
		return nil, fmt.Errorf("ram: %d bytes: want 1MiB to 1TiB", cfg.RAMBytes)
	}
	if cfg.CPUs == nil {
		return nil, errors.New("mm: no CPUs")
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(1, 0))
	}
	m := &Machine{CPUs: cfg.CPUs, Rand: cfg.Rand, frames: cfg.RAMBytes / PageBytes}
	m.chunks = make([]*frameChunk, (m.frames+chunkFrames-1)/chunkFrames)
	m.nodes = make([]nodeFrames, cfg.CPUs.Nodes)
	for i := range m.nodes {
		first := uint64(i) * m.frames / uint64(len(m.nodes))
		end := uint64(i+1) * m.frames / uint64(len(m.nodes))
		m.nodes[i] = nodeFrames{first: first, next: first, end: end, zeroed: newList(), free: newList()}
	}
	m.standby, m.modified, m.workingSet = newList(), newList(), newList()
	for r := RegionPagedPool; r < numRegions; r++ {
		m.regions[r] = newVARegion(r, len(m.nodes))
	}
	if cfg.PagefileBytes > 0 {
		pf, err := pagefile.Open(pagefile.Config{Bytes: cfg.PagefileBytes, Path: cfg.PagefilePath, Rand: cfg.Rand})
		if err != nil {
			return nil, err
		}
		m.Pagefile = pf
	}
	m.commitLimitPages = m.frames
	if m.Pagefile != nil {
		m.commitLimitPages += m.Pagefile.Slots() - 1
	}
	f, ok := m.takeFrame(0, true)
	if !ok {
		return nil, errors.New("mm: no frame for the PML4")
	}
	m.pml4 = f
	m.commitPages = 1 // the PML4, like every page table, is charged
	e := m.entry(f)
	e.PageTable = true
	e.VA = pxeBase &^ pageOffsetMask
	m.stats.PageTablePages++
	// The self-map entry: the PML4 maps itself.
	writePTE(m.frameData(f), selfMapIndex, tablePTE(f)|pteNoExecute)
	return m, nil
}

// Close releases the pagefile.
func (m *Machine) Close() error {
	if m.Pagefile != nil {
		return m.Pagefile.Close()
	}
	return nil
}

// Halt records e as the reason the machine stopped and returns it. Every
// later operation returns the same bugcheck. Layers above mm call it for
// the bugchecks they raise themselves.
func (m *Machine) Halt(e *bugcheck.Error) error {
	if m.halted == nil {
		m.halted = e
		// Every later access must miss and meet the bugcheck.
		m.CPUs.FlushAll()
	}
	return m.halted
}

// HaltOn halts the machine when err is a bugcheck, and passes any error
// through. The nil case returns before errors.As, whose target escapes:
// the pool calls it after every operation, and its hot path must not
// allocate.
func (m *Machine) HaltOn(err error) error {
	if err == nil {
		return nil
	}
	return m.haltOnSlow(err)
}

func (m *Machine) haltOnSlow(err error) error {
	if b := (*bugcheck.Error)(nil); errors.As(err, &b) {
		return m.Halt(b)
	}
	return err
}

// Halted returns the bugcheck that stopped the machine, or nil.
func (m *Machine) Halted() *bugcheck.Error { return m.halted }

// Frames returns the number of physical frames.
func (m *Machine) Frames() uint64 { return m.frames }

// Nodes returns the number of NUMA nodes.
func (m *Machine) Nodes() int { return len(m.nodes) }

// PML4 returns the frame of the top-level page table (CR3).
func (m *Machine) PML4() PFN { return m.pml4 }
