package scenario

import (
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf16"
)

// encode writes s in the encoding named, with a byte order mark or not.
func encode(s, name string, bom bool) []byte {
	var order binary.AppendByteOrder = binary.LittleEndian
	if strings.HasSuffix(name, "BE") {
		order = binary.BigEndian
	}
	if bom {
		s = "\ufeff" + s
	}
	var b []byte
	for _, r := range s {
		if strings.HasPrefix(name, "UTF-32") {
			b = order.AppendUint32(b, uint32(r))
			continue
		}
		for _, u := range utf16.Encode([]rune{r}) {
			b = order.AppendUint16(b, u)
		}
	}
	return b
}

// A scenario saved as UTF-16 or UTF-32, as Windows PowerShell 5's ">"
// writes one, loads as its UTF-8 text does, and its errors are at the
// same lines and columns (which count characters, é as one).
func TestParseReadsEveryYAMLEncoding(t *testing.T) {
	good := "name: \"é 𝄞\"\nsteps:\n  - alloc: {pool: PagedPool, size: 100, tag: Abcd, as: a}\n  - free: {at: a}\n"
	bad := "name: \"é 𝄞\"\nsteps:\n  - alloc: {pool: \"é𝄞\", pool: 1}\n"
	want, err := Parse("t.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	_, wantErr := Parse("t.yaml", []byte(bad))
	if wantErr == nil || !strings.HasPrefix(wantErr.Error(), "t.yaml:3:25: the key \"pool\" is given twice") {
		t.Fatalf("the UTF-8 file's error is %v, want one at 3:25", wantErr)
	}
	for _, name := range []string{"UTF-8", "UTF-16LE", "UTF-16BE", "UTF-32LE", "UTF-32BE"} {
		for _, bom := range []bool{true, false} {
			enc := func(s string) []byte {
				if name == "UTF-8" {
					if bom {
						s = "\ufeff" + s
					}
					return []byte(s)
				}
				return encode(s, name, bom)
			}
			got, err := Parse("t.yaml", enc(good))
			if err != nil {
				t.Errorf("%s (byte order mark %v): %v", name, bom, err)
				continue
			}
			got.Raw, got.Hash = want.Raw, want.Hash
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s (byte order mark %v) loads as %+v, want %+v", name, bom, got, want)
			}
			if _, err := Parse("t.yaml", enc(bad)); err == nil || err.Error() != wantErr.Error() {
				t.Errorf("%s (byte order mark %v): error %v, want %v", name, bom, err, wantErr)
			}
		}
	}
}

func TestParseRefusesBrokenEncodings(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"UTF-16 cut short", append(encode("name: x\nsteps: []\n", "UTF-16LE", true), 'x'),
			"t.yaml:3:1: the file is UTF-16LE text, and it ends part-way through a character"},
		{"a lone low surrogate", append(encode("name: x\n", "UTF-16BE", true), 0xdc, 0x00, 0x00, 'a'),
			"t.yaml:2:1: the file is UTF-16BE text, and this line holds half of a surrogate pair"},
		{"a high surrogate at the end", append(encode("name: x\n", "UTF-16LE", false), 0x00, 0xd8),
			"t.yaml:2:1: the file is UTF-16LE text, and it ends part-way through a character"},
		{"a value past U+10FFFF", append(encode("n", "UTF-32LE", true), 0x00, 0x00, 0x11, 0x00),
			"t.yaml:1:1: the file is UTF-32LE text, and this line holds 0x110000, which is no character"},
		{"a surrogate in UTF-32", append(encode("n", "UTF-32BE", false), 0x00, 0x00, 0xd8, 0x00),
			"t.yaml:1:1: the file is UTF-32BE text, and this line holds 0xd800, which is no character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", tc.data)
			var e *Error
			if !errors.As(err, &e) || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %v, want %s...", err, tc.want)
			}
		})
	}
}

// Traces are read as UTF-8 lines; one in UTF-16 is named as such at its
// first line, not reported as an unknown operation.
func TestParseTraceNamesUTF16(t *testing.T) {
	_, err := ParseTrace("t.trace", strings.NewReader(string(encode("a 1 PagedPool Abcd 8\n", "UTF-16LE", true))))
	if err == nil || !strings.HasPrefix(err.Error(), "t.trace:1:1: the trace is UTF-16LE text; simkern reads traces as UTF-8") {
		t.Errorf("got %v, want the trace named as UTF-16LE", err)
	}
}
