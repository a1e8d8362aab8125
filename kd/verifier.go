package kd

import (
	"fmt"
	"io"

	"simkern/pool"
)

// verifier prints Driver Verifier's settings and counters (!verifier), or
// with flag 3 and a driver name, that driver's outstanding allocations.
func (t *Target) verifier(w io.Writer, args []string) error {
	v := t.Verifier
	if v == nil {
		fmt.Fprintln(w, "Driver Verifier is not enabled for any driver (the scenario has no verifier: section).")
		return nil
	}
	if len(args) >= 2 {
		flags, err := t.Evaluate(args[0])
		if err != nil {
			return err
		}
		if flags&2 != 0 {
			return t.verifierDriver(w, args[1])
		}
	}
	s := v.Settings
	// The verifier /flags bits of the options simkern models.
	var level uint32
	if s.SpecialPool != 0 {
		level |= 0x1
	}
	if s.IRQLChecking {
		level |= 0x2
	}
	if lr := s.LowResources; lr != nil {
		level |= 0x4
		if lr.Systematic {
			level |= 0x40000
		}
	}
	if s.PoolTracking {
		level |= 0x8
	}
	fmt.Fprintf(w, "Verify Flags Level 0x%08x, enabled options are:\n", level)
	if s.SpecialPool != 0 {
		mode := "overrun"
		if s.SpecialPool == pool.SpecialUnderrun {
			mode = "underrun"
		}
		fmt.Fprintf(w, "\tSpecial pool (%s)\n", mode)
	}
	if s.IRQLChecking {
		fmt.Fprintln(w, "\tSpecial irql")
	}
	if s.PoolTracking {
		fmt.Fprintln(w, "\tAll pool allocations checked on unload")
	}
	if lr := s.LowResources; lr != nil {
		if lr.Systematic {
			fmt.Fprintln(w, "\tSystematic low resources simulation")
		} else {
			fmt.Fprintf(w, "\tRandomized low resources simulation (%d in 10000, after %d allocations)\n", int(lr.Probability*10000+0.5), lr.After)
		}
	}
	st := v.Stats
	fmt.Fprintln(w, "\nSummary of All Verifier Statistics")
	row := func(name string, n uint64) { fmt.Fprintf(w, "%-43s 0x%x\n", name, n) }
	row("RaiseIrqls", st.RaiseIrqls)
	row("Trims", st.Trims)
	row("Pool Allocations Attempted", st.AllocationsAttempted)
	row("Pool Allocations Succeeded", st.AllocationsSucceeded)
	row("Pool Allocations Succeeded SpecialPool", st.SucceededSpecialPool)
	row("Pool Allocations Fell Back From SpecialPool", st.SpecialPoolFallbacks)
	row("Pool Allocations With NO TAG", st.AllocationsWithNoTag)
	row("Pool Allocations Failed", st.AllocationsFailed)
	row("Resource Allocations Failed Deliberately", st.FailedDeliberately)
	fmt.Fprintf(w, "Current paged pool allocations         0x%x for %08X bytes\n", st.CurrentPagedAllocs, st.CurrentPagedBytes)
	fmt.Fprintf(w, "Peak paged pool allocations            0x%x for %08X bytes\n", st.PeakPagedAllocs, st.PeakPagedBytes)
	fmt.Fprintf(w, "Current nonpaged pool allocations      0x%x for %08X bytes\n", st.CurrentNPAllocs, st.CurrentNPBytes)
	fmt.Fprintf(w, "Peak nonpaged pool allocations         0x%x for %08X bytes\n", st.PeakNPAllocs, st.PeakNPBytes)
	fmt.Fprintln(w, "\nDriver Verification List")
	fmt.Fprintln(w, "State      NonPagedPool   PagedPool   Module")
	for _, d := range v.Drivers() {
		if !v.Verified(d.Name) {
			continue
		}
		state := "Loaded"
		if d.Unloaded {
			state = "Unloaded"
		}
		fmt.Fprintf(w, "%-10s %08x       %08x    %s\n", state, d.NonPagedBytes, d.PagedBytes, d.Name)
	}
	return nil
}

func (t *Target) verifierDriver(w io.Writer, name string) error {
	v := t.Verifier
	for _, d := range v.Drivers() {
		if d.Name != name {
			continue
		}
		allocs := d.Allocations()
		fmt.Fprintf(w, "Driver %s: %d outstanding allocations (%x nonpaged bytes, %x paged bytes)\n", d.Name, len(allocs), d.NonPagedBytes, d.PagedBytes)
		if !v.Settings.PoolTracking {
			fmt.Fprintln(w, "(pool tracking is off: allocations are not recorded per driver)")
			return nil
		}
		fmt.Fprintln(w, "\nPoolAddress       SizeInBytes    Tag       CallersAddress")
		for _, a := range allocs {
			fmt.Fprintf(w, "%s  0x%08x     %s      %016x\n", a.VA, a.Bytes, a.Tag, a.Caller)
		}
		return nil
	}
	return fmt.Errorf("!verifier: %s is not a verified driver", name)
}
