package kd

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"

	"simkern/mm"
)

// backtick prints an address as dq and dt do: fffff8a0`00000010.
func backtick(v uint64) string { return fmt.Sprintf("%08x`%08x", v>>32, uint32(v)) }

// rangeArgs parses "ADDR [L COUNT]" (also "ADDR LCOUNT").
func (t *Target) rangeArgs(args []string, defaultCount uint64) (uint64, uint64, error) {
	if len(args) == 0 {
		return 0, 0, errUsage
	}
	addr, err := t.Evaluate(args[0])
	if err != nil {
		return 0, 0, err
	}
	count := defaultCount
	rest := strings.Join(args[1:], " ")
	if rest != "" {
		if !strings.HasPrefix(strings.ToUpper(rest), "L") {
			return 0, 0, errUsage
		}
		if count, err = t.Evaluate(strings.TrimSpace(rest[1:])); err != nil {
			return 0, 0, err
		}
	}
	const maxCount = 0x10000
	if count == 0 || count > maxCount {
		return 0, 0, fmt.Errorf("Range error: the count must be 1 to 0x%x", maxCount)
	}
	return addr, count, nil
}

// dump prints count units of size bytes from addr, 16 bytes a row, and
// with chars the row's bytes as text after them (db always has them).
func (t *Target) dump(w io.Writer, args []string, size int, defaultCount uint64, chars bool) error {
	addr, count, err := t.rangeArgs(args, defaultCount)
	if err != nil {
		return err
	}
	total := count * uint64(size)
	if addr+total-1 < addr { // count is at most 0x10000: no overflow in total
		return fmt.Errorf("Range error: %s L%x runs past the end of the address space", backtick(addr), count)
	}
	for off := uint64(0); off < total; off += 16 {
		row := min(16, total-off)
		buf := make([]byte, row)
		got := t.Machine.Peek(mm.VA(addr+off), buf)
		fmt.Fprintf(w, "%s ", backtick(addr+off))
		switch size {
		case 1:
			for i := uint64(0); i < row; i++ {
				sep := " "
				if i == 8 {
					sep = "-"
				}
				if int(i) < got {
					fmt.Fprintf(w, "%s%02x", sep, buf[i])
				} else {
					fmt.Fprintf(w, "%s??", sep)
				}
			}
		case 4:
			for i := 0; i+4 <= int(row); i += 4 {
				if i+4 <= got {
					fmt.Fprintf(w, " %08x", binary.LittleEndian.Uint32(buf[i:]))
				} else {
					fmt.Fprint(w, " ????????")
				}
			}
		case 8:
			for i := 0; i+8 <= int(row); i += 8 {
				if i+8 <= got {
					fmt.Fprintf(w, " %s", backtick(binary.LittleEndian.Uint64(buf[i:])))
				} else {
					fmt.Fprint(w, " ????????`????????")
				}
			}
		}
		if chars {
			// A short last row is padded so its text lines up with the rows above.
			missing := int(16-row) / size
			fmt.Fprintf(w, "%s  %s", strings.Repeat(" ", missing*(2*size+1)), printable(buf[:row], got))
		}
		fmt.Fprintln(w)
	}
	return nil
}

// printable is bytes as dump's text column shows them: a printable ASCII
// character as itself, any other byte as '.', and a byte that could not
// be read (the first got were) as '?'.
func printable(b []byte, got int) string {
	text := make([]byte, len(b))
	for i, c := range b {
		switch {
		case i >= got:
			c = '?'
		case c < 0x20 || c > 0x7e:
			c = '.'
		}
		text[i] = c
	}
	return string(text)
}

func (t *Target) db(w io.Writer, args []string) error { return t.dump(w, args, 1, 0x80, true) }
func (t *Target) dc(w io.Writer, args []string) error { return t.dump(w, args, 4, 0x20, true) }
func (t *Target) dd(w io.Writer, args []string) error { return t.dump(w, args, 4, 0x20, false) }
func (t *Target) dq(w io.Writer, args []string) error { return t.dump(w, args, 8, 0x10, false) }

// The _POOL_HEADER fields as dt lists them.
var poolHeaderLayout = []struct{ off, name, kind string }{
	{"0x000", "PreviousSize", "Pos 0, 8 Bits"},
	{"0x000", "PoolIndex", "Pos 8, 8 Bits"},
	{"0x002", "BlockSize", "Pos 0, 8 Bits"},
	{"0x002", "PoolType", "Pos 8, 8 Bits"},
	{"0x000", "Ulong1", "Uint4B"},
	{"0x004", "PoolTag", "Uint4B"},
	{"0x008", "ProcessBilled", "Ptr64 _EPROCESS"},
	{"0x008", "AllocatorBackTraceIndex", "Uint2B"},
	{"0x00a", "PoolTagHash", "Uint2B"},
}

// dt knows one type: _POOL_HEADER (also as nt!_POOL_HEADER). WinDbg
// matches type names without regard to case, and so does dt here.
func (t *Target) dt(w io.Writer, args []string) error {
	if len(args) == 0 || !isPoolHeaderType(args[0]) {
		return fmt.Errorf("usage: dt _POOL_HEADER [ADDR] (simkern knows this one type)")
	}
	if len(args) == 1 {
		for _, f := range poolHeaderLayout {
			fmt.Fprintf(w, "   +%s %-16s : %s\n", f.off, f.name, f.kind)
		}
		return nil
	}
	addr, err := t.Evaluate(args[1])
	if err != nil {
		return err
	}
	h, ok := t.Pool.PeekHeader(mm.VA(addr))
	if !ok {
		return fmt.Errorf("Memory read error %s", backtick(addr))
	}
	bits := func(v uint8) string { return fmt.Sprintf("0y%08b (%s)", v, hexOrZero(uint64(v))) }
	billed := "(null)"
	if h.ProcessBilled != 0 {
		billed = "0x" + backtick(h.ProcessBilled) + " _EPROCESS" // dt names a pointer's type after it
	}
	values := []string{
		bits(h.PreviousSize), bits(h.PoolIndex), bits(h.BlockSize), bits(h.PoolType),
		fmt.Sprintf("0x%x", h.Ulong1()), fmt.Sprintf("0x%x", uint32(h.PoolTag)), billed,
		hexOrZero(uint64(uint16(h.ProcessBilled))), hexOrZero(uint64(uint16(h.ProcessBilled >> 16))),
	}
	for i, f := range poolHeaderLayout {
		fmt.Fprintf(w, "   +%s %-16s : %s\n", f.off, f.name, values[i])
	}
	return nil
}

// isPoolHeaderType reports whether name is _POOL_HEADER, with or without
// nt!, in any case.
func isPoolHeaderType(name string) bool {
	if len(name) > 3 && strings.EqualFold(name[:3], "nt!") {
		name = name[3:]
	}
	return strings.EqualFold(name, "_POOL_HEADER")
}

func hexOrZero(v uint64) string {
	if v == 0 {
		return "0"
	}
	return fmt.Sprintf("0x%x", v)
}
