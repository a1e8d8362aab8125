package scenario

import (
	"fmt"

	"simkern/cpu"
	"simkern/kd"
)

// Blame: every step runs at a synthetic code address of its own, inside
// the image of the driver it acts for (or the kernel's, for a step without
// driver:). The address is what the CPU's PC holds while the step runs, so
// it is what Windows would report as "the address which referenced
// memory" or the allocator's caller, and what each allocation remembers.
// The report maps it back to the scenario line.
//
// Drivers load 16 MiB apart from FFFFF880`01000000 (the system PTE region,
// where Windows loads drivers); kernel steps sit in the kernel image from
// nt+0x400000 to its end. Within an image, step k of the file (in file
// order, counting repeats' and threads' steps) is at +0x10*(k+1). A list
// of steps an alias reaches again is numbered once: the loader shares it,
// and walking every path to it could take 2^32 visits (repeats with
// times: 0 run nothing, so no step limit stops such a file). An image
// holds about a million steps (the kernel's range 131,071); a file with
// more shares addresses between steps, and then a report names the code
// address but no line.

const (
	driverImageBase   uint64 = 0xfffff880_01000000
	driverImageStride uint64 = 0x01000000
	kernelStepBase           = cpu.KernelImageBase + 0x400000
	siteStride        uint64 = 0x10
	driverSites              = driverImageStride/siteStride - 1
	kernelSites              = (cpu.KernelImageEnd-kernelStepBase)/siteStride - 1
)

// capacity is the number of distinct step addresses in an image.
func capacity(driver string) uint64 {
	if driver == "" {
		return kernelSites
	}
	return driverSites
}

// sites numbers the steps of a scenario in file order.
type sites struct {
	steps   []*Step
	index   map[*Step]int
	drivers map[string]int // driver name -> image number
	names   []string       // image number -> driver name
	modules []kd.Module    // image number -> where its code lies
}

func newSites(s *Scenario) *sites {
	st := &sites{index: map[*Step]int{}, drivers: map[string]int{}}
	for _, d := range s.Drivers {
		st.addDriver(d)
	}
	var walk func([]Step)
	walk = func(steps []Step) {
		if len(steps) == 0 {
			return
		}
		if _, ok := st.index[&steps[0]]; ok {
			return // the same list again, through an alias: numbered already
		}
		for i := range steps {
			step := &steps[i]
			st.index[step] = len(st.steps)
			st.steps = append(st.steps, step)
			if step.Driver != "" {
				st.addDriver(step.Driver)
			}
			if step.Repeat != nil {
				walk(step.Repeat.Steps)
			}
		}
	}
	walk(s.Steps)
	for i := range s.Threads {
		walk(s.Threads[i].Steps)
	}
	return st
}

func (st *sites) addDriver(name string) {
	if _, ok := st.drivers[name]; !ok {
		base := driverImageBase + driverImageStride*uint64(len(st.names))
		st.drivers[name] = len(st.names)
		st.names = append(st.names, name)
		st.modules = append(st.modules, kd.Module{Name: name, Base: base, Size: driverImageStride})
	}
}

// pc returns the code address step runs at.
func (st *sites) pc(step *Step) uint64 {
	off := siteStride * (uint64(st.index[step])%capacity(step.Driver) + 1)
	if step.Driver == "" {
		return kernelStepBase + off
	}
	return driverImageBase + driverImageStride*uint64(st.drivers[step.Driver]) + off
}

// symbol names a code address: "acme.sys+0x40", "nt!ExFreePoolWithTag".
func (st *sites) symbol(pc uint64) string { return kd.Symbol(st.modules, pc) }

// step returns the scenario step that runs at pc, if any.
func (st *sites) step(pc uint64) *Step {
	var off uint64
	var driver string
	switch {
	case pc >= kernelStepBase && pc < cpu.KernelImageEnd:
		off = pc - kernelStepBase
	case pc >= driverImageBase && pc < driverImageBase+driverImageStride*uint64(len(st.names)):
		off = (pc - driverImageBase) % driverImageStride
		driver = st.names[(pc-driverImageBase)/driverImageStride]
	default:
		return nil
	}
	if off == 0 || off%siteStride != 0 {
		return nil
	}
	k := off/siteStride - 1
	if k >= uint64(len(st.steps)) || st.steps[k].Driver != driver {
		return nil
	}
	if k+capacity(driver) < uint64(len(st.steps)) {
		return nil // a later step shares this address: say no line rather than guess
	}
	return st.steps[k]
}

// where describes pc for a report: its symbol and, when it is a step, the
// step's place and text.
func (st *sites) where(pc uint64) string {
	s := st.symbol(pc)
	if step := st.step(pc); step != nil {
		s += fmt.Sprintf("  (%s:%d: %s)", step.Pos.File, step.Pos.Line, step.Line)
	}
	return s
}

// nameAddress is where a driver's name string sits in its image: what
// 0xC4/0x62 reports as P2.
func (st *sites) nameAddress(driver string) uint64 {
	st.addDriver(driver)
	return driverImageBase + driverImageStride*uint64(st.drivers[driver]) + 0x100
}
