package kd

import (
	"fmt"

	"simkern/cpu"
	"simkern/pool"
)

// Module is a loaded driver image: where its code lies. A scenario lays
// its drivers out (scenario/blame.go) and hands the list to the Target; a
// dump carries it.
type Module struct {
	Name       string
	Base, Size uint64
}

// Symbol names a code address as a stack line does: the pool's two entry
// points by name ("nt!ExFreePoolWithTag"), another kernel address as an
// offset into nt, a driver's as an offset into its image
// ("acme.sys+0x40"), anything else as the bare address.
func Symbol(modules []Module, pc uint64) string {
	switch pc {
	case pool.PCExAllocatePoolWithTag:
		return "nt!ExAllocatePoolWithTag"
	case pool.PCExFreePoolWithTag:
		return "nt!ExFreePoolWithTag"
	}
	for _, m := range modules {
		if pc >= m.Base && pc-m.Base < m.Size {
			return fmt.Sprintf("%s+0x%x", m.Name, pc-m.Base)
		}
	}
	if cpu.InKernel(pc) {
		return fmt.Sprintf("nt+0x%x", pc-cpu.KernelImageBase)
	}
	return fmt.Sprintf("%016x", pc)
}
