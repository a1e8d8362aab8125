package kd

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"simkern/mm"
)

// vmLine prints one "label   pages   (   KB Kb)" line of !vm, numbers
// right-aligned to the same column as the real command's.
func vmLine(w io.Writer, label string, pages uint64) {
	fmt.Fprintf(w, "      %s%*d   (%8d Kb)\n", label, max(26-len(label), 1), pages, pages*4)
}

// vm is !vm [FLAGS]. Windows' flags leave out per-process statistics or
// add thread stacks, terminal server and kernel VA usage, none of which
// simkern has: any flags are taken, and the output is the same.
func (t *Target) vm(w io.Writer, args []string) error {
	if len(args) > 0 {
		if _, err := t.Evaluate(args[0]); err != nil {
			return err
		}
	}
	s := t.Machine.Stats()
	p := t.Pool.Totals()
	sp := t.Pool.SpecialStats()
	fmt.Fprintln(w, "*** Virtual Memory Usage ***")
	vmLine(w, "Physical Memory:", s.Frames)
	if s.HasPagefile {
		// Current is the file's size; slot 0, which never holds a page
		// (a zero slot means demand zero), is never free space.
		total := s.Pagefile.Slots * 4
		free := (s.Pagefile.Slots - 1 - s.Pagefile.Used) * 4
		fmt.Fprintln(w, `      Page File: \??\C:\pagefile.sys`)
		fmt.Fprintf(w, "         Current: %9dKb Free Space: %9dKb\n", total, free)
		fmt.Fprintf(w, "         Minimum: %9dKb Maximum:    %9dKb\n", total, total)
	} else {
		fmt.Fprintln(w, "      Page File: none")
	}
	vmLine(w, "Available Pages:", s.Available())
	vmLine(w, "Zeroed Pages:", s.Zeroed)
	vmLine(w, "Free Pages:", s.Free)
	vmLine(w, "Standby Pages:", s.Standby)
	vmLine(w, "Modified Pages:", s.Modified)
	vmLine(w, "Active Pages:", s.ActivePageable+s.ActiveNonpageable)
	vmLine(w, "Page Table Pages:", s.PageTablePages)
	vmLine(w, "NonPagedPool Usage:", s.NonPagedPoolPages)
	vmLine(w, "NonPagedPool Idle:", s.IdleNonPagedPages)
	vmLine(w, "PagedPool Usage:", s.PagedPoolPages)
	vmLine(w, "PagedPool Resident:", s.ActivePageable)
	vmLine(w, "Special Pool:", sp.PagesInUse)
	vmLine(w, "Committed pages:", s.CommitPages)
	vmLine(w, "Commit limit:", s.CommitLimitPages)
	fmt.Fprintf(w, "      Page faults: %d soft, %d hard, %d demand-zero\n", s.SoftFaults, s.HardFaults, s.DemandZeroFaults)
	// Every pool call: those special pool served, which no descriptor
	// counts, and the NULLs Driver Verifier returned without asking the
	// pool, as the run's summary counts them.
	failed := p.Failures
	if t.Verifier != nil {
		failed += t.Verifier.Stats.FailedDeliberately
	}
	fmt.Fprintf(w, "      Pool: %d allocations, %d frees, %d failed\n", p.RunningAllocs+sp.Allocations, p.RunningDeAllocs+sp.Frees, failed)
	return nil
}

var protectionNames = map[mm.Protection]string{
	mm.ProtReadWrite:        "ReadWrite",
	mm.ProtExecuteReadWrite: "ExecuteReadWrite",
	mm.ProtNoAccess:         "NoAccess",
}

func (t *Target) pte(w io.Writer, args []string) error {
	if len(args) == 0 {
		return errUsage
	}
	v, err := t.Evaluate(args[0])
	if err != nil {
		return err
	}
	va := mm.VA(v)
	chain := t.Machine.PTEChain(va)
	fmt.Fprintf(w, "%*s %016x\n", 45, "VA", uint64(va)) // 43 spaces, as WinDbg
	var head, contains, flags strings.Builder
	var why string
	for _, e := range chain {
		fmt.Fprintf(&head, "%s at %016X    ", e.Level, uint64(e.Address))
		if !e.Present {
			fmt.Fprintf(&contains, "%-27s", "")
			fmt.Fprintf(&flags, "%-27s", "")
			continue
		}
		fmt.Fprintf(&contains, "contains %016X  ", uint64(e.Value))
		p := e.Value
		switch {
		case p.Valid():
			fmt.Fprintf(&flags, "pfn %-10x%s  ", uint64(p.Frame()), p.Flags())
		case why == "":
			fmt.Fprintf(&flags, "%-27s", "not valid")
			why = t.explainInvalid(va, e)
		}
	}
	fmt.Fprintln(w, strings.TrimRight(head.String(), " "))
	fmt.Fprintln(w, strings.TrimRight(contains.String(), " "))
	fmt.Fprintln(w, strings.TrimRight(flags.String(), " "))
	if why != "" {
		fmt.Fprint(w, why)
	}
	return nil
}

// explainInvalid says what the first invalid entry of va's chain means,
// as the lines !pte prints under "not valid".
func (t *Target) explainInvalid(va mm.VA, e mm.PTEEntry) string {
	p := e.Value
	prot := fmt.Sprintf(" Protect: %x - %s\n", uint8(p.Protection()), protectionNames[p.Protection()])
	switch {
	case p == 0 && e.Level != mm.LevelPTE:
		return fmt.Sprintf(" No page table maps this address (its %s is zero)\n", e.Level)
	case p == 0 && t.Machine.HandedOut(va):
		return " Page has been freed\n"
	case p == 0:
		return " No allocation has held this page: never mapped\n"
	case p.Transition():
		return fmt.Sprintf(" Transition: %x\n%s", uint64(p.Frame()), prot)
	case p.Protection() == mm.ProtNoAccess && t.Pool.SpecialFreed(va):
		return " Page has been freed (special pool keeps it no-access)\n" + prot
	case p.Protection() == mm.ProtNoAccess:
		return " No access (a guard page)\n" + prot
	case p.Slot() != 0:
		return fmt.Sprintf(" PageFile:  0\n Offset: %x\n%s", p.Slot()*mm.PageBytes, prot)
	}
	return " DemandZero\n" + prot
}

func (t *Target) pfn(w io.Writer, args []string) error {
	if len(args) == 0 {
		return errUsage
	}
	v, err := t.Evaluate(args[0])
	if err != nil {
		return err
	}
	fi, err := t.Machine.Frame(mm.PFN(v))
	if err != nil {
		// !pte prints frame numbers as bare hex, and a one-letter one
		// (pfn a) pasted back reads as the scenario's name.
		a := strings.TrimSpace(args[0])
		if _, e := strconv.ParseUint(a, 16, 64); e == nil && t.Names != nil {
			if _, named := t.Names(a); named {
				return fmt.Errorf("%w; %s is a scenario name here: for frame %s write !pfn 0x%s", err, a, a, a)
			}
		}
		return err
	}
	fmt.Fprintf(w, "    PFN %08X      node %d\n", uint64(fi.PFN), fi.Node)
	if !fi.Touched {
		fmt.Fprintln(w, "    never used: reads as zero   Zeroed")
		return nil
	}
	// What the frame holds, if it holds a page: a free or zeroed frame
	// holds none.
	kind := ""
	switch {
	case fi.State == mm.StateFree || fi.State == mm.StateZeroed:
	case fi.PageTable:
		kind = "page table"
	case fi.Pageable:
		kind = "pageable"
	default:
		kind = "nonpageable"
	}
	fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("    state %-9s %s", fi.State, kind), " "))
	if fi.VA != 0 || fi.State == mm.StateActive {
		fmt.Fprintf(w, "    pteaddress %016X  va %s\n", uint64(fi.PTEAddress), fi.VA)
	}
	// The slot, and whether the bytes of a pageable page still have to
	// reach it: the PFN's Modified bit (not the Modified state above; mm
	// sets it on pageable frames only), or while the page is mapped, its
	// PTE's dirty bit, which the trim moves to the PFN. A page table's
	// dirty bit, or that of a PTE a corruption pointed elsewhere, says
	// nothing about this frame and the pagefile.
	dirty := fi.Modified
	if pte := t.Machine.PTE(fi.VA); fi.Pageable && fi.State == mm.StateActive && pte.Valid() && pte.Frame() == fi.PFN {
		dirty = dirty || pte.Dirty()
	}
	switch {
	case fi.Slot == 0 && dirty:
		fmt.Fprintln(w, "    pagefile slot none   (dirty: to be written)")
	case fi.Slot == 0:
		fmt.Fprintln(w, "    pagefile slot none")
	case dirty:
		fmt.Fprintf(w, "    pagefile slot %x   (dirty: the slot's copy is stale)\n", fi.Slot)
	default:
		fmt.Fprintf(w, "    pagefile slot %x   (clean: the slot holds these bytes)\n", fi.Slot)
	}
	return nil
}
