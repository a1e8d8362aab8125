package kd

import (
	"fmt"
	"io"
	"strings"

	"simkern/mm"
	"simkern/pool"
	"simkern/verifier"
)

// verifier prints Driver Verifier's settings and counters (!verifier).
// Flags with bits 1 and 2 (3, 0xf) add each verified driver's section
// under its line, or with a driver name print that driver's section alone;
// bits 4 and 8 add the last four records of the fault injection and IRQL
// logs. Flags of exactly 4, 8 or 0x80 print only that log, as many records
// as the second argument says (0x80: or those of the block at an address).
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
	switch flags {
	case 4, 8:
		n, err := t.quantity(args[1:])
		if err != nil {
			return err
		}
		if flags == 4 {
			t.injectionLog(w, n)
		} else {
			t.irqlLog(w, n)
		}
		return nil
	case 0x80:
		return t.poolLog(w, args[1:])
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
	if flags&4 != 0 {
		fmt.Fprintln(w)
		t.injectionLog(w, defaultLogRecords)
	}
	if flags&8 != 0 {
		fmt.Fprintln(w)
		t.irqlLog(w, defaultLogRecords)
	}
	return nil
}

// defaultLogRecords is how many records of the fault injection and IRQL
// logs !verifier shows when not told.
const defaultLogRecords = 4

// quantity reads the optional count of log records to show.
func (t *Target) quantity(args []string) (int, error) {
	if len(args) == 0 {
		return defaultLogRecords, nil
	}
	n, err := t.Evaluate(args[0])
	if err != nil {
		return 0, err
	}
	return int(min(n, 1<<31)), nil
}

// symbol names a code address for a stack line.
func (t *Target) symbol(pc uint64) string {
	if t.Symbol != nil {
		return t.Symbol(pc)
	}
	return Symbol(nil, pc)
}

// frames prints the two frames simkern knows of a pool call: the pool
// routine, and the code that called it.
func (t *Target) frames(w io.Writer, indent string, routine, caller uint64) {
	fmt.Fprintf(w, "%s%016x %s\n", indent, routine, t.symbol(routine))
	fmt.Fprintf(w, "%s%016x %s\n", indent, caller, t.symbol(caller))
}

// injectionLog prints the last n failures Low Resources Simulation
// injected, newest first (!verifier 4).
func (t *Target) injectionLog(w io.Writer, n int) {
	log, total := t.Verifier.InjectionLog(n)
	fmt.Fprintf(w, "Resource fault injection history: 0x%x injected, the last 0x%x kept, 0x%x shown\n", total, min(total, verifier.InjectionLogEntries), len(log))
	for _, in := range log {
		fmt.Fprintf(w, "\nInjection 0x%x, Processor %d, Time stamp %016x\n", in.Number, in.CPU, in.Event)
		fmt.Fprintf(w, "    NULL for 0x%x bytes of %s, tag %s (%s)\n", in.Bytes, in.Type, in.Tag, in.Why)
		t.frames(w, "    ", pool.PCExAllocatePoolWithTag, in.Caller)
	}
}

// irqlLog prints the last n IRQL changes verified drivers made, newest
// first (!verifier 8).
func (t *Target) irqlLog(w io.Writer, n int) {
	log, total := t.Verifier.IrqlLog(n)
	fmt.Fprintf(w, "IRQL changes by verified drivers: 0x%x logged, the last 0x%x kept, 0x%x shown\n", total, min(total, verifier.IrqlLogEntries), len(log))
	for _, e := range log {
		fmt.Fprintf(w, "\nOld irql: %08x\nNew irql: %08x\nProcessor: %08x\nTime stamp: %016x\n\n", uint8(e.Old), uint8(e.New), e.CPU, e.Event)
		fmt.Fprintf(w, "    %016x %s\n", e.Caller, t.symbol(e.Caller))
	}
}

// poolLog prints the pool log, newest first (!verifier 0x80): all of it,
// the last Quantity entries, or those of the block holding an address
// (any argument in the system half is an address).
func (t *Target) poolLog(w io.Writer, args []string) error {
	n, at := verifier.PoolLogEntries, uint64(0)
	if len(args) > 0 {
		a, err := t.Evaluate(args[0])
		if err != nil {
			return err
		}
		if a >= uint64(mm.SystemRangeStart) {
			at = a
		} else {
			n = int(min(a, verifier.PoolLogEntries))
		}
	}
	log, total := t.Verifier.PoolLog(n)
	fmt.Fprintf(w, "Log of recent kernel pool Allocate and Free operations:\n\n")
	fmt.Fprintf(w, "There are up to 0x%x entries in the log.\n\n", verifier.PoolLogEntries)
	if at != 0 {
		fmt.Fprintf(w, "Parsing 0x%08x log entries, searching for address 0x%x.\n\n", len(log), at)
	} else {
		fmt.Fprintf(w, "Parsing 0x%08x log entries.\n\n", len(log))
	}
	t.Examined += uint64(len(log)) * recordBytes
	found := 0
	for _, e := range log {
		if at != 0 && (at < uint64(e.VA) || at-uint64(e.VA) >= max(e.Bytes, 1)) {
			continue
		}
		found++
		routine := uint64(pool.PCExAllocatePoolWithTag)
		if e.Free {
			routine = pool.PCExFreePoolWithTag
		}
		fmt.Fprintln(w, "======================================================================")
		fmt.Fprintf(w, "Pool block %016x, Size %016x, Processor %d, Time stamp %016x\n", uint64(e.VA), e.Bytes, e.CPU, e.Event)
		t.frames(w, "", routine, e.Caller)
	}
	if found == 0 {
		fmt.Fprintln(w, "No entry found.")
	}
	if total > verifier.PoolLogEntries {
		fmt.Fprintf(w, "(0x%x older entries were overwritten)\n", total-verifier.PoolLogEntries)
	}
	fmt.Fprintln(w, "Finished parsing all pool tracking information.")
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
