package kd

import (
	"fmt"
	"io"
	"strings"

	"simkern/verifier"
)

// verifier prints Driver Verifier's settings and counters (!verifier).
// Flags with bits 1 and 2 (3, 0xf) add each verified driver's section
// under its line, or with a driver name print that driver's section alone.
func (t *Target) verifier(w io.Writer, args []string) error {
	v := t.Verifier
	if v == nil {
		fmt.Fprintln(w, "Driver Verifier is not enabled for any driver (the scenario has no verifier: section).")
		return nil
	}
	var flags uint64
	if len(args) >= 1 {
		var err error
		if flags, err = t.Evaluate(args[0]); err != nil {
			return err
		}
	}
	sections := flags&3 == 3 // 2 adds the sections, and needs 1 to list the drivers
	if len(args) >= 2 && sections {
		return t.verifierDriver(w, args[1])
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
		if lr.Systematic {
			level |= 0x40000 // an option of its own, not a mode of 0x4
		} else {
			level |= 0x4
		}
	}
	if s.PoolTracking {
		level |= 0x8
	}
	// The layout of Windows 7's !verifier, options in the order of their
	// bits. The low resources options carry Windows 8.1's names.
	fmt.Fprintf(w, "Verify Level %x ... enabled options are:\n", level)
	for _, o := range []struct {
		bit  uint32
		name string
	}{
		{0x1, "Special pool"},
		{0x2, "Special irql"},
		{0x4, "Randomized low resources simulation"},
		{0x8, "All pool allocations checked on unload"},
		{0x40000, "Systematic low resources simulation"},
	} {
		if level&o.bit != 0 {
			fmt.Fprintf(w, "    %s\n", o.name)
		}
	}
	st := v.Stats
	fmt.Fprintln(w, "\nSummary of All Verifier Statistics")
	row := func(name string, n uint64) { fmt.Fprintf(w, "%-38s 0x%x\n", name, n) }
	row("RaiseIrqls", st.RaiseIrqls)
	row("AcquireSpinLocks", 0) // simkern has no spin locks
	row("Synch Executions", 0) // nor KeSynchronizeExecution
	row("Trims", st.Trims)
	row("Pool Allocations Attempted", st.AllocationsAttempted)
	row("Pool Allocations Succeeded", st.AllocationsSucceeded)
	row("Pool Allocations Succeeded SpecialPool", st.SucceededSpecialPool)
	row("Pool Allocations With NO TAG", st.AllocationsWithNoTag)
	row("Pool Allocations Failed", st.AllocationsFailed)
	fmt.Fprintf(w, "Resource Allocations Failed Deliberately   0x%x\n", st.FailedDeliberately)
	fmt.Fprintf(w, "Current paged pool allocations         0x%x for %08X bytes\n", st.Paged.Allocations, st.Paged.Bytes)
	fmt.Fprintf(w, "Peak paged pool allocations            0x%x for %08X bytes\n", st.Paged.PeakAllocations, st.Paged.PeakBytes)
	fmt.Fprintf(w, "Current nonpaged pool allocations      0x%x for %08X bytes\n", st.NonPaged.Allocations, st.NonPaged.Bytes)
	fmt.Fprintf(w, "Peak nonpaged pool allocations         0x%x for %08X bytes\n", st.NonPaged.PeakAllocations, st.NonPaged.PeakBytes)
	fmt.Fprintln(w, "\nDriver Verification List")
	fmt.Fprintln(w, "Entry     State           NonPagedPool   PagedPool   Module")
	for _, d := range v.Drivers() {
		if !v.Verified(d.Name) {
			continue
		}
		state := "Loaded"
		if d.Unloaded {
			state = "Unloaded"
		}
		// Entry is the verifier's record of the driver, which simkern
		// keeps in Go: 0, as in 0xC4 / 0x62's P3.
		fmt.Fprintf(w, "%016x %-17s%08x       %08x    %s\n", 0, state, d.NonPaged.Bytes, d.Paged.Bytes, d.Name)
		if sections {
			// Each driver's section goes under its line, set off by
			// blank lines as in Microsoft's sample.
			fmt.Fprintln(w)
			t.driverSection(w, d)
			fmt.Fprintln(w)
		}
	}
	return nil
}

// verifierDriver prints one driver's section of !verifier 3, as Windows 7
// prints it under the driver's line. Driver names match in any case, as
// Windows' file names do.
func (t *Target) verifierDriver(w io.Writer, name string) error {
	v := t.Verifier
	for _, d := range v.Drivers() {
		if strings.EqualFold(d.Name, name) && v.Verified(d.Name) {
			t.driverSection(w, d)
			return nil
		}
	}
	return fmt.Errorf("!verifier: %s is not a verified driver", name)
}

// driverSection prints a verified driver's counters, nonpaged then paged,
// a blank line, and its allocation table.
func (t *Target) driverSection(w io.Writer, d *verifier.Driver) {
	row := func(label string, nonPaged, paged uint64) {
		fmt.Fprintf(w, "%-26s%08x    %08x\n", label, nonPaged, paged)
	}
	row("Current Pool Allocations", d.NonPaged.Allocations, d.Paged.Allocations)
	row("Current Pool Bytes", d.NonPaged.Bytes, d.Paged.Bytes)
	row("Peak Pool Allocations", d.NonPaged.PeakAllocations, d.Paged.PeakAllocations)
	row("Peak Pool Bytes", d.NonPaged.PeakBytes, d.Paged.PeakBytes)
	if !t.Verifier.Settings.PoolTracking {
		fmt.Fprintln(w, "\n(pool tracking is off: allocations are not recorded per driver)")
		return
	}
	fmt.Fprintln(w, "\nPoolAddress  SizeInBytes    Tag       CallersAddress")
	for _, a := range d.Allocations() {
		fmt.Fprintf(w, "%016x     0x%08x     %s      %016x\n", uint64(a.VA), a.Bytes, a.Tag, a.Caller)
	}
}
