package kd

import (
	"bufio"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"strings"

	"simkern/pool"
)

// PoolTagEntry is one line of pooltag.txt: a tag pattern (with * and ?),
// the binary that owns it, and what it is for.
type PoolTagEntry struct {
	Pattern     string
	Binary      string
	Description string
}

// namesBinary reports whether the line names the binary that owns the tag
// (the column may be <unknown>).
func (e PoolTagEntry) namesBinary() bool { return e.Binary != "" && e.Binary != "<unknown>" }

// PoolTags is a parsed pooltag.txt. Lookups try exact tags first, then
// patterns in file order, as the debugger does.
type PoolTags struct {
	exact    map[string]PoolTagEntry
	patterns []PoolTagEntry
}

//go:embed pooltag.txt
var builtinPoolTags string

// BuiltinPoolTags returns the pooltag.txt simkern ships: the tags its own
// examples and the kernel's common pools use.
func BuiltinPoolTags() *PoolTags {
	t, err := ParsePoolTags("pooltag.txt", strings.NewReader(builtinPoolTags))
	if err != nil {
		panic(err) // the embedded file is part of simkern: a test covers it
	}
	return t
}

// ParsePoolTags reads the real pooltag.txt format:
//
//	rem comment lines, blank lines
//	TAG - binary - description
//
// A tag shorter than four characters is space-padded. The binary column
// may be <unknown>. A line without the two " - " separators is an error
// naming the file and line.
func ParsePoolTags(name string, r io.Reader) (*PoolTags, error) {
	t := &PoolTags{exact: map[string]PoolTagEntry{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimRight(sc.Text(), "\r")
		trimmed := strings.TrimSpace(s)
		if trimmed == "" || isRemark(trimmed) || strings.HasPrefix(trimmed, "//") || strings.HasPrefix(trimmed, ";") {
			continue
		}
		parts := strings.SplitN(s, " - ", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("%s:%d:1: want \"TAG - binary - description\"", name, line)
		}
		tag := strings.TrimLeft(parts[0], " \t")
		if len(tag) == 0 || len(tag) > 4 {
			return nil, fmt.Errorf("%s:%d:1: tag %q: want 1 to 4 characters", name, line, tag)
		}
		tag = padTag(tag)
		e := PoolTagEntry{Pattern: tag, Binary: strings.TrimSpace(parts[1]), Description: strings.TrimSpace(parts[2])}
		if strings.ContainsAny(tag, "*?") {
			t.patterns = append(t.patterns, e)
		} else if _, dup := t.exact[tag]; !dup {
			t.exact[tag] = e
		}
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return nil, fmt.Errorf("%s:%d: a line longer than 1 MiB", name, line+1)
	} else if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return t, nil
}

// Lookup finds the entry for a tag.
func (t *PoolTags) Lookup(tag pool.Tag) (PoolTagEntry, bool) {
	if t == nil {
		return PoolTagEntry{}, false
	}
	s := tag.String()
	if e, ok := t.exact[s]; ok {
		return e, true
	}
	for _, e := range t.patterns {
		if MatchTag(e.Pattern, s) {
			return e, true
		}
	}
	return PoolTagEntry{}, false
}

// MatchTag matches a four-character tag against a pattern where * is any
// run and ? one character.
func MatchTag(pattern, tag string) bool {
	if pattern == "" {
		return tag == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(tag); i++ {
			if MatchTag(pattern[1:], tag[i:]) {
				return true
			}
		}
		return false
	case '?':
		return tag != "" && MatchTag(pattern[1:], tag[1:])
	}
	return tag != "" && pattern[0] == tag[0] && MatchTag(pattern[1:], tag[1:])
}

// isRemark reports a "rem" comment line: the word rem alone or followed by
// a space (a tag such as Remq is not one).
func isRemark(line string) bool {
	if len(line) < 3 || !strings.EqualFold(line[:3], "rem") {
		return false
	}
	return len(line) == 3 || line[3] == ' ' || line[3] == '\t'
}

// padTag pads a tag of fewer than four characters with spaces, as the pool
// stores tags ("Irp" is "Irp "; "Ir?" matches "Irx "), and cuts a longer
// one to four. A pattern with a * is not padded, and loses the spaces
// after it that pad it in a pooltag.txt column: the * stands for any
// characters, the padding too ("Ir*" matches "Irp " and "Irpx").
func padTag(s string) string {
	if strings.Contains(s, "*") {
		return strings.TrimRight(s, " ")
	}
	return (s + "    ")[:4]
}
