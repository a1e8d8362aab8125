package scenario

import (
	"fmt"
	"slices"
	"testing"

	"simkern/bugcheck"
)

// Paged pool touched at DISPATCH_LEVEL after page_out or trim: a bugcheck
// with a pagefile, nothing without one (the format's "0 = no pagefile
// (nothing pageable can leave memory)").
func TestPagedPoolAtDispatchNeedsAPagefile(t *testing.T) {
	tests := []struct {
		pagefile, step string
		want           bugcheck.Code // 0: none
	}{
		{"16MiB", "page_out: all", bugcheck.IrqlNotLessOrEqual},
		{"16MiB", "trim: buf", bugcheck.IrqlNotLessOrEqual},
		{"0", "page_out: all", 0},
		{"0", "trim: all", 0},
		{"0", "trim: buf", 0},
	}
	for _, tt := range tests {
		t.Run(tt.pagefile+" "+tt.step, func(t *testing.T) {
			src := fmt.Sprintf(`name: paged-at-dispatch
machine: {ram: 16MiB, pagefile: %s}
steps:
  - alloc: {pool: PagedPool, size: 64, tag: Page, as: buf}
  - write: {at: buf, data: "hello"}
  - %s
  - irql: DISPATCH_LEVEL
  - read: {at: buf, length: 5, expect: "hello"}
`, tt.pagefile, tt.step)
			s, err := Parse("paged.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			out, err := Run(s, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var got bugcheck.Code
			if out.Bugcheck != nil {
				got = out.Bugcheck.Code
			}
			if got != tt.want {
				t.Errorf("bugcheck %#x (%v), want %#x", got, out.Bugcheck, tt.want)
			}
		})
	}
}

// TestWriteModifiedStep: write_modified: runs the modified page writer
// alone, between trim and page_out: the trimmed dirty pages go to the
// pagefile and to standby with their frames, so the next touch is a soft
// fault, and a second writer pass finds nothing to write.
func TestWriteModifiedStep(t *testing.T) {
	s := loadInline(t, "standby.yaml", `name: standby
machine: {ram: 16MiB}
steps:
  - alloc: {pool: PagedPool, size: 5000, tag: Stby, as: buf}
  - write: {at: buf, data: "kept"}
  - write: {at: buf+4096, data: "too"}
  - trim: buf
  - write_modified: buf
  - write_modified: all
  - read: {at: buf, length: 4, expect: "kept"}
`)
	sess, o, out := runInline(t, s, Options{})
	if o.Exit != ExitOK {
		t.Fatalf("exit %d\n%s", o.Exit, out)
	}
	outputHas(t, out,
		"write_modified: buf\n      -> 2 pages written to the pagefile, now on standby\n",
		"write_modified: all\n      -> 0 pages written to the pagefile, now on standby\n",
		"-> \"kept\"  [1 soft fault]\n",
	)
	if st := sess.r.m.Stats(); st.PagesWritten != 2 || st.HardFaults != 0 || st.Standby != 1 {
		t.Errorf("pages written %d, hard faults %d, standby %d; want 2, 0, 1", st.PagesWritten, st.HardFaults, st.Standby)
	}
	// In JSON each write_modified step gives the pages it wrote, 0 too.
	_, _, js := runInline(t, s, Options{JSON: true})
	var pages []int
	for _, e := range events(t, js) {
		if e.Verb == "write_modified" {
			if e.Pages == nil {
				t.Fatalf("a write_modified step event without pages: %+v", e)
			}
			pages = append(pages, *e.Pages)
		}
	}
	if want := []int{2, 0}; !slices.Equal(pages, want) {
		t.Errorf("write_modified steps report pages %v, want %v", pages, want)
	}
}
