package cpu

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"simkern/bugcheck"
)

func TestIRQLString(t *testing.T) {
	tests := []struct {
		name string
		l    IRQL
		want string
	}{
		{name: "0 is PASSIVE_LEVEL", l: 0, want: "PASSIVE_LEVEL"},
		{name: "1 is APC_LEVEL", l: 1, want: "APC_LEVEL"},
		{name: "2 is DISPATCH_LEVEL", l: 2, want: "DISPATCH_LEVEL"},
		{name: "3 is a device level", l: 3, want: "DIRQL"},
		{name: "5 is CMCI_LEVEL", l: 5, want: "CMCI_LEVEL"},
		{name: "11 is still a device level", l: 11, want: "DIRQL"},
		{name: "12 is SYNCH_LEVEL", l: 12, want: "SYNCH_LEVEL"},
		{name: "13 is CLOCK_LEVEL", l: 13, want: "CLOCK_LEVEL"},
		{name: "14 prints as IPI_LEVEL though POWER_LEVEL shares it", l: PowerLevel, want: "IPI_LEVEL"},
		{name: "15 prints as HIGH_LEVEL though PROFILE_LEVEL shares it", l: ProfileLevel, want: "HIGH_LEVEL"},
		{name: "a level past HIGH_LEVEL shows its number", l: 16, want: "IRQL(16)"},
		{name: "the largest value shows its number", l: 255, want: "IRQL(255)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.l.String(); got != tt.want {
				t.Errorf("IRQL(%d).String() = %q, want %q", uint8(tt.l), got, tt.want)
			}
		})
	}
}

func TestParseIRQL(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    IRQL
		wantErr bool
	}{
		// Names, in any case.
		{name: "an upper-case name parses", in: "DISPATCH_LEVEL", want: DispatchLevel},
		{name: "a lower-case name parses", in: "dispatch_level", want: DispatchLevel},
		{name: "a mixed-case name parses", in: "Passive_Level", want: PassiveLevel},
		{name: "surrounding space is ignored", in: "  high_level\t", want: HighLevel},
		{name: "SYNCH_LEVEL is 12", in: "SYNCH_LEVEL", want: 12},
		{name: "CMCI_LEVEL is 5", in: "cmci_level", want: 5},
		// Aliases.
		{name: "LOW_LEVEL is PASSIVE_LEVEL", in: "LOW_LEVEL", want: PassiveLevel},
		{name: "PASSIVE alone is PASSIVE_LEVEL", in: "passive", want: PassiveLevel},
		{name: "APC alone is APC_LEVEL", in: "apc", want: ApcLevel},
		{name: "DPC_LEVEL is DISPATCH_LEVEL", in: "DPC_LEVEL", want: DispatchLevel},
		{name: "DISPATCH alone is DISPATCH_LEVEL", in: "Dispatch", want: DispatchLevel},
		{name: "CLOCK2_LEVEL is CLOCK_LEVEL", in: "CLOCK2_LEVEL", want: ClockLevel},
		{name: "POWER_LEVEL is 14", in: "power_level", want: 14},
		{name: "IPI_LEVEL is 14", in: "IPI_LEVEL", want: 14},
		{name: "PROFILE_LEVEL is 15", in: "PROFILE_LEVEL", want: 15},
		{name: "HIGH alone is HIGH_LEVEL", in: "HIGH", want: HighLevel},
		// Numbers.
		{name: "a decimal number parses", in: "2", want: 2},
		{name: "zero parses", in: "0", want: 0},
		{name: "15 is the highest number", in: "15", want: 15},
		{name: "a device level by number parses", in: "7", want: 7},
		{name: "a hex number parses", in: "0xf", want: 15},
		// Errors.
		{name: "16 is above HIGH_LEVEL", in: "16", wantErr: true},
		{name: "256 does not fit an IRQL at all", in: "256", wantErr: true},
		{name: "a negative level is refused", in: "-1", wantErr: true},
		{name: "an unknown name is refused", in: "FOO", wantErr: true},
		{name: "an empty string is refused", in: "", wantErr: true},
		{name: "a name with a typo is refused", in: "DISPATCH_LEVL", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseIRQL(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseIRQL(%q) = %v, want an error", tt.in, got)
				}
				// The message quotes the input and says what would do.
				if msg := err.Error(); !strings.Contains(msg, `"`+tt.in+`"`) || !strings.Contains(msg, "PASSIVE_LEVEL") || !strings.Contains(msg, "0-15") {
					t.Errorf("ParseIRQL(%q) error %q should quote the input and list the choices", tt.in, msg)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseIRQL(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestIRQLNamesAllParse(t *testing.T) {
	names := IRQLNames()
	if len(names) == 0 {
		t.Fatal("IRQLNames() is empty")
	}
	for _, n := range names {
		l, err := ParseIRQL(n)
		if err != nil {
			t.Errorf("ParseIRQL(%q) from IRQLNames: %v", n, err)
			continue
		}
		// Every level with a name of its own prints as a name in the list.
		if s := l.String(); s != "DIRQL" && !slices.Contains(names, s) {
			t.Errorf("%s parses to %d, which prints as %q, not in IRQLNames", n, l, s)
		}
	}
	// Every level 0..15 parses from its number and from its String, unless
	// String is the generic DIRQL.
	for l := range MaxIRQL + 1 {
		if got, err := ParseIRQL(l.String()); l.String() != "DIRQL" && (err != nil || got != l) {
			t.Errorf("ParseIRQL(%q) = %v, %v; want %d", l.String(), got, err, l)
		}
	}
}

// wantBugcheck checks err is exactly the bugcheck code(p) raised at site.
func wantBugcheck(t *testing.T, err error, code bugcheck.Code, p [4]uint64, site string) {
	t.Helper()
	var bc *bugcheck.Error
	if !errors.As(err, &bc) {
		t.Fatalf("error %v, want bugcheck %#x", err, uint32(code))
	}
	if bc.Code != code || bc.P != p || bc.Site != site {
		t.Fatalf("got %v at %q, want %v at %q", bc, bc.Site, bugcheck.New(code, p[0], p[1], p[2], p[3]), site)
	}
}

func TestRaiseLower(t *testing.T) {
	const pc = 0xfffff880_045e135c // a driver's code
	tests := []struct {
		name  string
		start IRQL
		raise bool // Raise, or Lower
		to    IRQL
		// Either the old level Raise returns, or the bugcheck expected.
		wantOld  IRQL
		wantCode bugcheck.Code
		wantP    [4]uint64
		wantSite string
		// The level afterwards.
		wantIRQL IRQL
	}{
		// KeRaiseIrql.
		{name: "raising from PASSIVE_LEVEL to DISPATCH_LEVEL returns the old level", start: PassiveLevel, raise: true, to: DispatchLevel, wantOld: PassiveLevel, wantIRQL: DispatchLevel},
		{name: "raising to the current level is allowed", start: DispatchLevel, raise: true, to: DispatchLevel, wantOld: DispatchLevel, wantIRQL: DispatchLevel},
		{name: "raising to HIGH_LEVEL is allowed", start: ApcLevel, raise: true, to: HighLevel, wantOld: ApcLevel, wantIRQL: HighLevel},
		{
			name: "raising to a lower level is IRQL_NOT_GREATER_OR_EQUAL with current then requested", start: DispatchLevel, raise: true, to: PassiveLevel,
			wantCode: bugcheck.IrqlNotGreaterOrEqual, wantP: [4]uint64{2, 0, 0, 0}, wantSite: "KeRaiseIrql", wantIRQL: DispatchLevel,
		},
		{
			name: "raising past HIGH_LEVEL is IRQL_NOT_GREATER_OR_EQUAL too", start: PassiveLevel, raise: true, to: 16,
			wantCode: bugcheck.IrqlNotGreaterOrEqual, wantP: [4]uint64{0, 16, 0, 0}, wantSite: "KeRaiseIrql", wantIRQL: PassiveLevel,
		},
		// KeLowerIrql.
		{name: "lowering from DISPATCH_LEVEL to PASSIVE_LEVEL works", start: DispatchLevel, to: PassiveLevel, wantIRQL: PassiveLevel},
		{name: "lowering to the current level is allowed", start: ApcLevel, to: ApcLevel, wantIRQL: ApcLevel},
		{
			name: "lowering to a higher level is IRQL_NOT_LESS_OR_EQUAL with requested, current and the PC", start: PassiveLevel, to: DispatchLevel,
			wantCode: bugcheck.IrqlNotLessOrEqual, wantP: [4]uint64{2, 0, 0, pc}, wantSite: "KeLowerIrql", wantIRQL: PassiveLevel,
		},
		{
			name: "lowering from APC_LEVEL to HIGH_LEVEL is IRQL_NOT_LESS_OR_EQUAL", start: ApcLevel, to: HighLevel,
			wantCode: bugcheck.IrqlNotLessOrEqual, wantP: [4]uint64{15, 1, 0, pc}, wantSite: "KeLowerIrql", wantIRQL: ApcLevel,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &CPU{PC: pc}
			if _, err := c.Raise(tt.start); err != nil {
				t.Fatalf("raising to the starting level %v: %v", tt.start, err)
			}
			var err error
			if tt.raise {
				var old IRQL
				old, err = c.Raise(tt.to)
				if err == nil && old != tt.wantOld {
					t.Errorf("Raise(%v) returned old level %v, want %v", tt.to, old, tt.wantOld)
				}
			} else {
				err = c.Lower(tt.to)
			}
			if tt.wantCode != 0 {
				wantBugcheck(t, err, tt.wantCode, tt.wantP, tt.wantSite)
			} else if err != nil {
				t.Fatalf("%v", err)
			}
			if got := c.IRQL(); got != tt.wantIRQL {
				t.Errorf("IRQL afterwards = %v, want %v", got, tt.wantIRQL)
			}
		})
	}
}

func TestInKernel(t *testing.T) {
	tests := []struct {
		name string
		pc   uint64
		want bool
	}{
		{name: "the image base is the kernel", pc: KernelImageBase, want: true},
		{name: "the last byte of the image is the kernel", pc: KernelImageEnd - 1, want: true},
		{name: "the image end is not", pc: KernelImageEnd, want: false},
		{name: "just below the base is not", pc: KernelImageBase - 1, want: false},
		{name: "a driver address is not", pc: 0xfffff880_045e135c, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := InKernel(tt.pc); got != tt.want {
				t.Errorf("InKernel(%#x) = %v, want %v", tt.pc, got, tt.want)
			}
		})
	}
}

func TestNewSet(t *testing.T) {
	tests := []struct {
		name      string
		cpus      int
		nodes     int
		wantNodes []int  // the node of each CPU in order
		wantErr   string // or part of the error
	}{
		{name: "4 CPUs over 2 nodes split down the middle", cpus: 4, nodes: 2, wantNodes: []int{0, 0, 1, 1}},
		{name: "3 CPUs over 2 nodes put the odd one on node 1", cpus: 3, nodes: 2, wantNodes: []int{0, 0, 1}},
		{name: "5 CPUs over 3 nodes fill the nodes in order", cpus: 5, nodes: 3, wantNodes: []int{0, 0, 1, 1, 2}},
		{name: "6 CPUs over 4 nodes: CPU i on node i*4/6, as the docs say", cpus: 6, nodes: 4, wantNodes: []int{0, 0, 1, 2, 2, 3}},
		{name: "one node holds every CPU", cpus: 3, nodes: 1, wantNodes: []int{0, 0, 0}},
		{name: "as many nodes as CPUs is one CPU each", cpus: 4, nodes: 4, wantNodes: []int{0, 1, 2, 3}},
		{name: "a single CPU works", cpus: 1, nodes: 1, wantNodes: []int{0}},
		{name: "more nodes than CPUs is refused", cpus: 2, nodes: 3, wantErr: "numa_nodes: 3"},
		{name: "zero nodes is refused", cpus: 2, nodes: 0, wantErr: "numa_nodes: 0"},
		{name: "zero CPUs is refused", cpus: 0, nodes: 1, wantErr: "cpus: 0"},
		{name: "more than MaxCPUs is refused", cpus: MaxCPUs + 1, nodes: 1, wantErr: "cpus: 257"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSet(tt.cpus, tt.nodes)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NewSet(%d, %d) = %v, want an error containing %q", tt.cpus, tt.nodes, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var nodes []int
			for i, c := range s.CPUs {
				nodes = append(nodes, c.Node)
				if c.Number != i || c.PC != KernelImageBase || c.IRQL() != PassiveLevel {
					t.Errorf("CPU %d: Number %d, PC %#x, IRQL %v; want %d, the kernel base, PASSIVE_LEVEL", i, c.Number, c.PC, c.IRQL(), i)
				}
			}
			if !slices.Equal(nodes, tt.wantNodes) || s.Nodes != tt.nodes {
				t.Errorf("nodes %v (Nodes %d), want %v (%d)", nodes, s.Nodes, tt.wantNodes, tt.nodes)
			}
			// NodeCPUs agrees, and together the nodes hold every CPU once.
			seen := 0
			for n := range tt.nodes {
				cs := s.NodeCPUs(n)
				if len(cs) == 0 {
					t.Errorf("node %d has no CPUs", n)
				}
				for _, c := range cs {
					if c.Node != n {
						t.Errorf("NodeCPUs(%d) holds CPU %d of node %d", n, c.Number, c.Node)
					}
				}
				seen += len(cs)
			}
			if seen != tt.cpus {
				t.Errorf("the nodes hold %d CPUs, want %d", seen, tt.cpus)
			}
		})
	}
}

func TestTLB(t *testing.T) {
	const va = 0xfffff880_04561000
	alias := uint64(va + TLBEntries*PageBytes) // same index, another page
	var data, other [PageBytes]byte
	type probe struct {
		va    uint64
		write bool
		want  *[PageBytes]byte // nil: a miss
	}
	tests := []struct {
		name     string
		do       func(tlb *TLB) // after inserting va -> data, clean
		probe    []probe
		wantHits uint64 // the insert and the misses count none (mm counts misses)
	}{
		{
			name:     "an inserted page hits, at any offset within it",
			do:       func(*TLB) {},
			probe:    []probe{{va: va, want: &data}, {va: va + 0xfff, want: &data}},
			wantHits: 2,
		},
		{
			name:     "the next page misses",
			do:       func(*TLB) {},
			probe:    []probe{{va: va + PageBytes}, {va: va, want: &data}},
			wantHits: 1,
		},
		{
			name:  "a write to a page cached clean misses, so the walk sets D",
			do:    func(*TLB) {},
			probe: []probe{{va: va, write: true}},
		},
		{
			name:     "a page cached dirty takes writes and reads",
			do:       func(tlb *TLB) { tlb.Insert(va, &other, true) },
			probe:    []probe{{va: va + 8, write: true, want: &other}, {va: va, want: &other}},
			wantHits: 2,
		},
		{
			name:     "a page with the same index evicts the old one",
			do:       func(tlb *TLB) { tlb.Insert(alias, &other, false) },
			probe:    []probe{{va: va}, {va: alias, want: &other}},
			wantHits: 1,
		},
		{
			name:  "invalidate drops the page",
			do:    func(tlb *TLB) { tlb.Invalidate(va + 0x80) },
			probe: []probe{{va: va}},
		},
		{
			name:  "invalidate drops a dirty page too",
			do:    func(tlb *TLB) { tlb.Insert(va, &data, true); tlb.Invalidate(va) },
			probe: []probe{{va: va}, {va: va, write: true}},
		},
		{
			name:     "invalidating an aliasing page leaves the cached one alone",
			do:       func(tlb *TLB) { tlb.Invalidate(alias) },
			probe:    []probe{{va: va, want: &data}},
			wantHits: 1,
		},
		{
			name: "flush drops every page",
			do: func(tlb *TLB) {
				tlb.Insert(va+PageBytes, &other, true)
				tlb.Flush()
			},
			probe: []probe{{va: va}, {va: va + PageBytes}},
		},
		{
			name:  "the empty entry never matches page 0",
			do:    func(tlb *TLB) { tlb.Flush() },
			probe: []probe{{va: 0}, {va: 0xfff}, {va: 0, write: true}},
		},
		{
			name:     "the highest page caches like any other",
			do:       func(tlb *TLB) { tlb.Insert(0xffffffff_fffff000, &other, false) },
			probe:    []probe{{va: 0xffffffff_ffffffff, want: &other}},
			wantHits: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tlb TLB
			tlb.Insert(va, &data, false)
			tt.do(&tlb)
			for _, p := range tt.probe {
				if got := tlb.Cached(p.va, p.write); got != p.want {
					t.Errorf("Cached(%#x, write %v) = %p, want %p", p.va, p.write, got, p.want)
				}
			}
			if tlb.Hits != tt.wantHits {
				t.Errorf("Hits = %d, want %d", tlb.Hits, tt.wantHits)
			}
		})
	}
}

func TestShootdown(t *testing.T) {
	const va, keep = 0xfffff880_04561000, 0xfffff880_04562000
	tests := []struct {
		name string
		do   func(s *Set)
		// Whether va and keep still hit afterwards, on every CPU.
		wantVA, wantKeep bool
	}{
		{name: "a shootdown drops the page on every CPU", do: func(s *Set) { s.Shootdown(va + 0x10) }, wantVA: false, wantKeep: true},
		{name: "a shootdown of an uncached page changes nothing", do: func(s *Set) { s.Shootdown(0x1000) }, wantVA: true, wantKeep: true},
		{name: "FlushAll drops every page on every CPU", do: func(s *Set) { s.FlushAll() }, wantVA: false, wantKeep: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSet(4, 2)
			if err != nil {
				t.Fatal(err)
			}
			var data [PageBytes]byte
			for _, c := range s.CPUs {
				c.TLB.Insert(va, &data, true)
				c.TLB.Insert(keep, &data, true)
			}
			tt.do(s)
			for _, c := range s.CPUs {
				if hit := c.TLB.Cached(va, false) != nil; hit != tt.wantVA {
					t.Errorf("CPU %d: %#x hit = %v, want %v", c.Number, uint64(va), hit, tt.wantVA)
				}
				if hit := c.TLB.Cached(keep, false) != nil; hit != tt.wantKeep {
					t.Errorf("CPU %d: %#x hit = %v, want %v", c.Number, uint64(keep), hit, tt.wantKeep)
				}
			}
		})
	}
}

// NodeCPUs returns the CPUs of one node.
func (s *Set) NodeCPUs(node int) []*CPU {
	var out []*CPU
	for _, c := range s.CPUs {
		if c.Node == node {
			out = append(out, c)
		}
	}
	return out
}

// TestTLBFlushAfterRefill: a flush skips a TLB nothing was put in since
// the last one, so a TLB filled again after a flush must be flushed again.
func TestTLBFlushAfterRefill(t *testing.T) {
	var tlb TLB
	var page [PageBytes]byte
	for round := range 3 {
		tlb.Flush() // empty the first time: nothing to do
		tlb.Insert(0x5000, &page, true)
		if tlb.Cached(0x5000, true) == nil {
			t.Fatalf("round %d: the entry just inserted misses", round)
		}
		tlb.Flush()
		if tlb.Cached(0x5000, false) != nil {
			t.Fatalf("round %d: the entry survived a flush", round)
		}
	}
}
