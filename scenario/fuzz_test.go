package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// FuzzParse: no input makes Parse panic or hang, every failure is an
// *Error at a real place in the file, and every success is a scenario a
// runner can trust (not both steps and threads, defaults filled).
func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/full.yaml", "testdata/threads.yaml", "testdata/bad-trace.yaml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"name: minimal\nsteps:\n  - trim: all\n",
		"name: x\nmachine: {ram: 1GiB, cpus: 4, numa_nodes: 2}\nsteps:\n  - alloc: {pool: NonPagedPool, size: 64, as: p}\n  - write: {at: p+60, u64: 1}\n  - free: p\nexpect:\n  bugcheck: {code: 0x19, p1: 0x20, p2: p}\n",
		"name: loop\nsteps:\n  - repeat: {times: 3, steps: [{alloc: {pool: 1, size: 8, as: b}}, {free: {at: b, tag: None}}]}\n  - workload: {ops: 100, pool: PagedPool, sizes: 16-64, live: 10}\n",
		"name: a\nsteps:\n  - alloc: &x {pool: 0, size: 1KiB, as: q}\n  - alloc: {<<: *x, as: r}\n  - read: {at: r, expect: {bytes: [0, 0]}}\n",
		"name: faults\nfaults:\n  - bit_flip: {step: 1}\n  - pagefile_read_error: {nth: 2}\nsteps: [{page_out: all}, {kd: '!vm'}]\n",
		"name: !!str tags\nsteps:\n  - alloc: {pool: !!int 0, size: !!str 8, tag: !<tag:yaml.org,2002:str> Abcd}\n  - trim: !!null\n",
	} {
		f.Add([]byte(s))
	}
	f.Add(encode("name: wide\nsteps:\n  - trim: all\n", "UTF-16LE", true))
	f.Add(encode("name: wider\nsteps:\n  - trim: all\n", "UTF-32BE", false))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is a %T, want *Error", err, err)
			}
			if e.Pos.Line < 1 || e.Pos.Col < 1 || e.Msg == "" {
				t.Fatalf("error without a place or a message: %#v", e)
			}
			// go-yaml ends lines at \n, \r\n or a lone \r.
			if lines := strings.Count(string(data), "\n") + strings.Count(string(data), "\r") + 1; e.Pos.File == "fuzz.yaml" && e.Pos.Line > lines+1 {
				t.Fatalf("error at line %d of a file of at most %d lines: %v", e.Pos.Line, lines, err)
			}
			return
		}
		if s.Name == "" || (len(s.Steps) > 0 && len(s.Threads) > 0) { // steps: [] is a run that does nothing
			t.Fatalf("loaded a scenario without a name or with both steps and threads: %q", data)
		}
		m := s.Machine
		if m.RAM < MinRAMBytes || m.RAM > MaxRAMBytes || m.CPUs < 1 || m.CPUs > MaxCPUs || m.NUMANodes < 1 || m.NUMANodes > m.CPUs {
			t.Fatalf("loaded a machine outside the limits: %+v", m)
		}
		var check func(steps []Step)
		check = func(steps []Step) {
			for _, st := range steps {
				if st.CPU >= m.CPUs || st.Verb == "" || st.Pos.Line < 1 {
					t.Fatalf("bad step %+v", st)
				}
				if st.Repeat != nil {
					check(st.Repeat.Steps)
				}
			}
		}
		check(s.Steps)
		for _, th := range s.Threads {
			check(th.Steps)
		}
	})
}

// FuzzTrace: ParseTrace never panics, errors are *Error at a line of
// the input, and what it accepts reads back the same when written out
// again.
func FuzzTrace(f *testing.F) {
	for _, s := range []string{
		"# op id pool tag size [cpu]\na 1 NonPagedPool Irp  240 0\na 2 PagedPool    File 1024\nf 1\n",
		"a 0x10 512 0x41424344 0x20 3\nf 16\n",
		"a 1 PagedPool A#b 8 # comment\n\n\tf 1\r\n",
		"name: !!str tags\nsteps:\n  - alloc: {pool: !!int 0, size: !!str 8, tag: !<tag:yaml.org,2002:str> Abcd}\n  - trim: !!null\n",
	} {
		f.Add([]byte(s))
	}
	f.Add(encode("name: wide\nsteps:\n  - trim: all\n", "UTF-16LE", true))
	f.Add(encode("name: wider\nsteps:\n  - trim: all\n", "UTF-32BE", false))
	f.Fuzz(func(t *testing.T, data []byte) {
		ops, err := ParseTrace("f.trace", bytes.NewReader(data))
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Pos.Line < 1 || e.Pos.Col < 1 {
				t.Fatalf("error %#v (%T) is not an *Error at a line", err, err)
			}
			return
		}
		var b strings.Builder
		for _, op := range ops {
			if !op.Alloc {
				fmt.Fprintf(&b, "f %d\n", op.ID)
				continue
			}
			fmt.Fprintf(&b, "a %d %s %#x %d", op.ID, op.Pool, uint32(op.Tag), op.Size)
			if op.CPUSet {
				fmt.Fprintf(&b, " %d", op.CPU)
			}
			b.WriteByte('\n')
		}
		again, err := ParseTrace("again.trace", strings.NewReader(b.String()))
		if err != nil {
			t.Fatalf("written back as\n%s\nit fails: %v", b.String(), err)
		}
		for i := range ops {
			again[i].Line = ops[i].Line
			if again[i] != ops[i] {
				t.Fatalf("op %d reads back as %+v, want %+v", i, again[i], ops[i])
			}
		}
	})
}
