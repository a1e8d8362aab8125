package scenario

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// A YAML file may be UTF-8, UTF-16 or UTF-32, with or without a byte
// order mark (YAML 1.2, section 5.2), and Windows PowerShell 5's ">"
// writes UTF-16: `simkern examples overrun > o.yaml` makes one there.
// go-yaml reads UTF-8 only, so a scenario in another encoding is decoded
// before it is parsed; positions then count characters, as an editor
// does. Traces are read as a stream of UTF-8 lines, and only that.

// textEncoding is how a file's characters are stored; the zero value is
// UTF-8.
type textEncoding struct {
	name  string // "UTF-16LE" and so on; "" for UTF-8
	unit  int    // bytes in a code unit: 2 or 4
	order binary.ByteOrder
	bom   int // bytes of byte order mark before the text
}

// sniffEncoding tells a file's encoding from its first bytes as YAML's
// table does: by its byte order mark or, without one, by where the zero
// bytes of an ASCII first character fall.
func sniffEncoding(b []byte) textEncoding {
	has := func(p string) bool { return bytes.HasPrefix(b, []byte(p)) }
	zero := func(i ...int) bool {
		for _, k := range i {
			if k >= len(b) || b[k] != 0 {
				return false
			}
		}
		return true
	}
	switch {
	case has("\x00\x00\xfe\xff"):
		return textEncoding{"UTF-32BE", 4, binary.BigEndian, 4}
	case zero(0, 1, 2) && len(b) >= 4:
		return textEncoding{"UTF-32BE", 4, binary.BigEndian, 0}
	case has("\xff\xfe\x00\x00"):
		return textEncoding{"UTF-32LE", 4, binary.LittleEndian, 4}
	case zero(1, 2, 3):
		return textEncoding{"UTF-32LE", 4, binary.LittleEndian, 0}
	case has("\xfe\xff"):
		return textEncoding{"UTF-16BE", 2, binary.BigEndian, 2}
	case zero(0) && len(b) >= 2:
		return textEncoding{"UTF-16BE", 2, binary.BigEndian, 0}
	case has("\xff\xfe"):
		return textEncoding{"UTF-16LE", 2, binary.LittleEndian, 2}
	case zero(1):
		return textEncoding{"UTF-16LE", 2, binary.LittleEndian, 0}
	}
	return textEncoding{}
}

// toUTF8 returns the text of b, a file's bytes, as UTF-8, without a byte
// order mark. A code unit that is no character (a lone surrogate, a value
// past U+10FFFF) or a file that ends part-way through one is an error at
// its line.
func toUTF8(name string, b []byte) ([]byte, *Error) {
	e := sniffEncoding(b)
	if e.unit == 0 {
		return trimBOM(b), nil
	}
	b = b[e.bom:]
	out := make([]byte, 0, len(b)/e.unit)
	line := 1
	bad := func(what string) *Error {
		return &Error{Pos: Pos{File: name, Line: line, Col: 1},
			Msg: fmt.Sprintf("the file is %s text, and %s; save it as UTF-8 or mend it", e.name, what)}
	}
	for len(b) > 0 {
		if len(b) < e.unit {
			return nil, bad("it ends part-way through a character")
		}
		var r rune
		if e.unit == 4 {
			u := e.order.Uint32(b)
			b = b[4:]
			if u > utf8.MaxRune || utf16.IsSurrogate(rune(u)) {
				return nil, bad(fmt.Sprintf("this line holds %#x, which is no character", u))
			}
			r = rune(u)
		} else {
			r = rune(e.order.Uint16(b))
			b = b[2:]
			if utf16.IsSurrogate(r) {
				if len(b) < 2 {
					return nil, bad("it ends part-way through a character")
				}
				low := rune(e.order.Uint16(b))
				if r = utf16.DecodeRune(r, low); r == utf8.RuneError {
					return nil, bad("this line holds half of a surrogate pair")
				}
				b = b[2:]
			}
		}
		if r == '\n' {
			line++
		}
		out = utf8.AppendRune(out, r)
	}
	return out, nil
}
