package scenario

import (
	"fmt"
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
