package scenario

// The loader's view of the YAML tree: looking through tags, anchors and
// aliases, reading maps with merge keys, and turning scalars into typed
// values, each failure an *Error at the node. See doc.go.

import (
	"encoding/base64"
	"fmt"
	"io/fs"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/dustin/go-humanize"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// loader carries one Parse call's state.
type loader struct {
	fsys fs.FS  // where replay: paths are read; nil: the host's files
	file string // name for positions
	dir  string // where replay: paths start

	best  *located // the error that comes first in the file
	nerrs int      // errors found, kept or not

	// alias maps each alias to the anchored node it names, worked out in
	// document order by collectAnchors. Missing: an unknown alias.
	alias map[*ast.AliasNode]ast.Node

	// What later sections check against; the ok flags say whether the
	// section parsed, so one bad section does not make every step wrong.
	cpus      int
	cpusOK    bool
	ram       uint64
	ramOK     bool
	pagefile  uint64
	drivers   map[string]bool
	driversOK bool
	// listed says the file has a drivers: list. Without one, naming a
	// driver (in verifier.drivers, a step's driver:, unload:) declares
	// it, and declared keeps those names in the order of first mention.
	listed   bool
	declared []string

	// Names: binds holds the program-order number of each name's first
	// binding; uses are checked against it at the end.
	threads bool
	seq     int
	binds   map[string]int
	uses    []nameUse

	stepVisits int // steps read so far, aliases expanded
	lists      map[listKey]listResult
	overLimit  bool   // a repeat has reported passing MaxSteps or MaxOps
	dataBytes  uint64 // write data and read expectations so far
	traces     map[string]*traceResult
	traceOrder []string // the traces read, in the order the file names them first
	keptOps    uint64   // trace operations the scenario may still keep in memory
}

// located is an error plus where it sorts: its own position, or for an
// error inside a trace file, the position of the replay step.
type located struct {
	at  Pos
	err *Error
}

// nameUse is one place a bound name is needed.
type nameUse struct {
	name     string
	pos      Pos
	key      string
	seq      int
	anywhere bool // expect: names may be bound anywhere in the file
}

// Only the error that comes first in the file is kept: later ones are
// often consequences of it, and skipping them keeps a hostile file with a
// million bad keys cheap.

func posBefore(a, b Pos) bool {
	if a.Line != b.Line {
		return a.Line < b.Line
	}
	return a.Col < b.Col
}

// wants reports whether an error at p would replace the one kept.
func (l *loader) wants(p Pos) bool {
	l.nerrs++
	return l.best == nil || posBefore(p, l.best.at)
}

func (l *loader) errAt(p Pos, key, format string, args ...any) {
	if l.wants(p) {
		l.keep(p, &Error{Pos: p, Key: key, Msg: fmt.Sprintf(format, args...)})
	}
}

// keep makes e, at p, the error the load reports, its message cut to
// maxErrorBytes whatever value of the file it quotes (most quote at most
// 40 characters of one already; a host's error repeats a path whole).
func (l *loader) keep(p Pos, e *Error) {
	if len(e.Msg) > maxErrorBytes {
		short := *e
		short.Msg = shortenText(e.Msg, maxErrorBytes)
		e = &short
	}
	l.best = &located{at: p, err: e}
}

const maxErrorBytes = 1024

func (l *loader) errorf(n ast.Node, key, format string, args ...any) {
	l.errAt(l.pos(n), key, format, args...)
}

// errIn keeps e, an error inside another file (a trace), as if it stood
// at p, the step that reads that file.
func (l *loader) errIn(p Pos, e *Error) {
	if l.wants(p) {
		l.keep(p, e)
	}
}

// pos returns where n starts: for a block map, its first key.
func (l *loader) pos(n ast.Node) Pos {
	p := Pos{File: l.file, Line: 1, Col: 1}
	var tk *token.Token
	switch v := n.(type) {
	case nil:
		return p
	case *ast.DocumentNode:
		if v.Body == nil {
			return p
		}
		return l.pos(v.Body)
	case *ast.MappingNode:
		if v == nil {
			return p
		}
		if !v.IsFlowStyle && len(v.Values) > 0 {
			return l.pos(v.Values[0].Key)
		}
		tk = v.Start
	case *ast.MappingValueNode:
		if v == nil || v.Key == nil {
			return p
		}
		return l.pos(v.Key)
	default:
		tk = n.GetToken()
	}
	if tk != nil && tk.Position != nil && tk.Position.Line > 0 {
		p.Line, p.Col = tk.Position.Line, max(tk.Position.Column, 1)
	}
	return p
}

// collectAnchors walks the tree in document order and records, for each
// alias, the node its anchor names. An anchor is registered only after its
// own value, so no alias can reach itself and the graph stays acyclic. It
// also checks each YAML tag (checkTag); at is where n stands, for errors.
func (l *loader) collectAnchors(n ast.Node, anchors map[string]ast.Node, at *nodePath, depth int) {
	if depth > 10_000 {
		return // deeper than any scenario; the walkers reject such trees anyway
	}
	switch v := n.(type) {
	case *ast.DocumentNode:
		l.collectAnchors(v.Body, anchors, at, depth+1)
	case *ast.MappingNode:
		for _, mv := range v.Values {
			l.collectAnchors(mv, anchors, at, depth+1)
		}
	case *ast.MappingValueNode:
		in := &nodePath{up: at, key: l.keyText(v.Key)}
		l.collectAnchors(v.Key, anchors, in, depth+1)
		l.collectAnchors(v.Value, anchors, in, depth+1)
	case *ast.MappingKeyNode:
		l.collectAnchors(v.Value, anchors, at, depth+1)
	case *ast.SequenceNode:
		for i, e := range v.Values {
			l.collectAnchors(e, anchors, &nodePath{up: at, index: i}, depth+1)
		}
	case *ast.TagNode:
		l.checkTag(v, at)
		l.collectAnchors(v.Value, anchors, at, depth+1)
	case *ast.AnchorNode:
		l.collectAnchors(v.Value, anchors, at, depth+1)
		if name, ok := v.Name.(*ast.StringNode); ok {
			anchors[name.Value] = v.Value
		}
	case *ast.AliasNode:
		name := ""
		if s, ok := v.Value.(*ast.StringNode); ok {
			name = s.Value
		}
		if t, ok := anchors[name]; ok && t != nil {
			l.alias[v] = t
		} else {
			name = shortenText(name, maxKeyShown)
			l.errorf(v, at.String(), "unknown alias *%s: no anchor &%s before it", name, name)
		}
	}
}

// nodePath is where collectAnchors stands in the document, a map key or
// a sequence index at each level; it is spelled out only for an error.
type nodePath struct {
	up    *nodePath
	key   string // "" at a sequence item
	index int
}

func (p *nodePath) String() string {
	switch {
	case p == nil:
		return ""
	case p.key == "":
		return keyIndex(p.up.String(), p.index)
	}
	return keyJoin(p.up.String(), p.key)
}

// keyText is a map key as written, through tags, anchors and aliases.
func (l *loader) keyText(n ast.Node) string {
	if mk, ok := n.(*ast.MappingKeyNode); ok {
		n = mk.Value
	}
	if v := l.value(n); v != nil && v.GetToken() != nil {
		return shortenText(v.GetToken().Value, maxKeyShown)
	}
	return "?"
}

// checkTag refuses a YAML tag that is not one of YAML's own, or that does
// not fit its value: simkern reads each value by its form and what its key
// wants, so a tag can only agree or mislead (`pool: !!null NonPagedPool`
// would otherwise run as NonPagedPool). Numbers may be given as text, so
// !!int, !!float and !!bool take text too; !!binary takes any scalar,
// since base64 may look like a number, and its reader checks it.
func (l *loader) checkTag(v *ast.TagNode, at *nodePath) {
	tag := v.Start.Value
	name, ok := strings.CutPrefix(tag, "!!")
	if long, isLong := strings.CutPrefix(tag, "!<tag:yaml.org,2002:"); isLong {
		name, ok = strings.CutSuffix(long, ">")
	}
	fits, known := tagFits[name]
	if !ok || !known {
		l.errorf(v, at.String(), "unknown YAML tag %s: a scenario takes only YAML's own (!!str, !!int, !!float, !!bool, !!null, !!map, !!seq, !!binary)", shortenText(tag, maxKeyShown))
		return
	}
	switch val := l.value(v.Value); val.(type) {
	case nil, *ast.AliasNode:
		// YAML lets any tag stand on an empty node; an unknown alias is
		// reported already.
	default:
		if !slices.Contains(fits, val.Type()) {
			l.errorf(v, at.String(), "the YAML tag %s does not fit %s", tag, describeNode(val))
		}
	}
}

// tagFits gives, for each of YAML's tags, the nodes it may stand on.
var tagFits = func() map[string][]ast.NodeType {
	scalars := []ast.NodeType{ast.StringType, ast.LiteralType, ast.IntegerType, ast.FloatType,
		ast.InfinityType, ast.NanType, ast.BoolType, ast.NullType}
	return map[string][]ast.NodeType{
		"str":    scalars,
		"binary": scalars,
		"int":    {ast.StringType, ast.IntegerType},
		"float":  {ast.StringType, ast.IntegerType, ast.FloatType, ast.InfinityType, ast.NanType},
		"bool":   {ast.StringType, ast.BoolType},
		"null":   {ast.NullType},
		"map":    {ast.MappingType, ast.MappingValueType},
		"seq":    {ast.SequenceType},
	}
}()

// value looks through tags, anchors and aliases to the node that holds the
// data. An unknown alias comes back as itself (already reported).
func (l *loader) value(n ast.Node) ast.Node {
	for range 1000 {
		switch v := n.(type) {
		case *ast.TagNode:
			n = v.Value
		case *ast.AnchorNode:
			n = v.Value
		case *ast.AliasNode:
			t := l.alias[v]
			if t == nil {
				return v
			}
			n = t
		default:
			return n
		}
	}
	return n
}

// isNull reports whether n is absent or null; callers treat both as "not given".
func (l *loader) isNull(n ast.Node) bool {
	switch l.value(n).(type) {
	case nil, *ast.NullNode:
		return true
	}
	return false // an unknown alias counts as given; it is reported already
}

// describeNode names what n is, for "want X, got Y".
func describeNode(n ast.Node) string {
	switch v := n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a map"
	case *ast.SequenceNode:
		return "a list"
	case nil, *ast.NullNode:
		return "nothing"
	case *ast.BoolNode:
		return "a boolean (" + strconv.FormatBool(v.Value) + ")"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "the number " + shortenText(n.GetToken().Value, 40)
	case *ast.StringNode:
		return "the text " + strconv.Quote(shortenText(v.Value, 40))
	case *ast.LiteralNode:
		return "a block of text"
	}
	return "a " + n.Type().String()
}

// maxKeyShown is as much of a key as a message shows: every key the
// format has is far shorter.
const maxKeyShown = 64

func shortenText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && s[i]&0xC0 == 0x80 {
		i-- // stay on a UTF-8 boundary
	}
	return s[:i] + "..."
}

// mapEntry is one key of a map, merge keys already applied.
type mapEntry struct {
	key string
	kn  ast.Node // the key, for positions
	val ast.Node // unresolved
}

// yamlMap is a map read for one spot in the format: known keys only.
type yamlMap struct {
	l    *loader
	path string
	node ast.Node
	ents []mapEntry

	// unknown: the map has a key it should not. Then a missing key is
	// most likely that key misspelt, so only the unknown key is reported.
	unknown bool
}

// object reads n as a map whose keys must be among valid. Unknown keys are
// reported with the closest valid key; the map is still returned so the
// caller can go on checking what it knows.
func (l *loader) object(n ast.Node, path string, valid []string) (*yamlMap, bool) {
	ents, ok := l.entries(n, path, 0)
	if !ok {
		return nil, false
	}
	o := &yamlMap{l: l, path: path, node: l.value(n), ents: ents}
	for _, e := range ents {
		if !slices.Contains(valid, e.key) {
			l.unknownKey(e, path, valid)
			o.unknown = true
		}
	}
	return o, true
}

func (l *loader) unknownKey(e mapEntry, path string, valid []string) {
	p := l.pos(e.kn)
	if !l.wants(p) {
		return
	}
	key := shortenText(e.key, maxKeyShown) // a megabyte of key is not quoted twice
	msg := fmt.Sprintf("unknown key %q", key)
	if s := suggest(e.key, valid); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	} else {
		msg += "; valid here: " + strings.Join(valid, ", ")
	}
	l.errAt(p, keyJoin(path, key), "%s", msg)
}

// entries lists a map's keys in order, with `<<: *anchor` merges added
// after them for keys the map does not give itself.
func (l *loader) entries(n ast.Node, path string, depth int) ([]mapEntry, bool) {
	var values []*ast.MappingValueNode
	switch v := l.value(n).(type) {
	case *ast.MappingNode:
		values = v.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{v}
	default:
		if !l.isNull(n) || depth == 0 {
			l.errorf(n, path, "want a map, got %s", describeNode(l.value(n)))
		}
		return nil, false
	}
	var out, merged []mapEntry
	for _, mv := range values {
		if mv == nil {
			continue
		}
		kn := l.value(mv.Key)
		if mk, ok := kn.(*ast.MappingKeyNode); ok {
			kn = l.value(mk.Value)
		}
		switch k := kn.(type) {
		case *ast.MergeKeyNode:
			merged = append(merged, l.merge(mv.Value, path, depth)...)
		case *ast.StringNode:
			out = append(out, mapEntry{key: k.Value, kn: mv.Key, val: mv.Value})
		case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.NullNode, *ast.InfinityNode, *ast.NanNode:
			out = append(out, mapEntry{key: k.GetToken().Value, kn: mv.Key, val: mv.Value})
		default:
			l.errorf(mv.Key, path, "a key must be a plain name, got %s", describeNode(kn))
		}
	}
	return appendNew(out, merged), true
}

func (l *loader) merge(n ast.Node, path string, depth int) []mapEntry {
	if depth >= 8 {
		l.errorf(n, path, "merge keys nest too deeply")
		return nil
	}
	seq, ok := l.value(n).(*ast.SequenceNode)
	if !ok {
		ents, _ := l.entries(n, path, depth+1)
		return ents
	}
	var out []mapEntry
	for _, e := range seq.Values {
		out = appendNew(out, l.merge(e, path, depth+1))
	}
	return out
}

// appendNew appends the entries of more whose keys are not in out yet:
// with merge keys, the map's own keys and earlier merges win.
func appendNew(out, more []mapEntry) []mapEntry {
	if len(more) == 0 {
		return out
	}
	seen := make(map[string]bool, len(out)+len(more))
	for _, e := range out {
		seen[e.key] = true
	}
	for _, m := range more {
		if !seen[m.key] {
			seen[m.key] = true
			out = append(out, m)
		}
	}
	return out
}

// keyJoin builds a key path: keyJoin("steps[2].alloc", "size").
func keyJoin(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func keyIndex(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// get returns the value of key k, or nil when absent or null.
func (o *yamlMap) get(k string) ast.Node {
	for _, e := range o.ents {
		if e.key == k {
			if o.l.isNull(e.val) {
				return nil
			}
			return e.val
		}
	}
	return nil
}

// keyNode returns key k's own node, for "given twice" errors.
func (o *yamlMap) keyNode(k string) ast.Node {
	for _, e := range o.ents {
		if e.key == k {
			return e.kn
		}
	}
	return nil
}

func (o *yamlMap) key(k string) string { return keyJoin(o.path, k) }

// missing reports a required key the map lacks.
func (o *yamlMap) missing(k, hint string) {
	if o.unknown {
		return
	}
	msg := k + " is required"
	if hint != "" {
		msg += ": " + hint
	}
	o.l.errorf(o.node, o.key(k), "%s", msg)
}

// suggest returns the valid key closest to k, or "" when none is close:
// a case-insensitive match, a prefix either way, or an edit distance of at
// most 3 that is also less than half of k's length.
func suggest(k string, valid []string) string {
	best, bestD := "", math.MaxInt
	lk := strings.ToLower(k)
	for _, v := range valid {
		lv := strings.ToLower(v)
		d := editDistance(lk, lv)
		if lk == lv || (len(lk) >= 2 && (strings.HasPrefix(lv, lk) || strings.HasPrefix(lk, lv))) {
			d = 0
		}
		if d < bestD {
			best, bestD = v, d
		}
	}
	if bestD == 0 || (bestD <= 3 && bestD*2 < len(k)+1) {
		return best
	}
	return ""
}

// editDistance counts the insertions, deletions, substitutions and swaps
// of neighbours that turn a into b (optimal string alignment), in bytes.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return math.MaxInt // keys that long are nothing we would suggest
	}
	// d[i][j] is the distance between a[:i] and b[:j]; three rows suffice.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// text reads a scalar as text: strings as written, numbers and booleans by
// their spelling, so `name: 2024` is the name "2024".
func (l *loader) text(n ast.Node, key string) (string, bool) {
	if l.isBinary(n) {
		l.errorf(n, key, "!!binary is bytes, which only data: and expect: take; want text here")
		return "", false
	}
	return l.scalarText(n, key)
}

// scalarText is the text of a scalar, as written.
func (l *loader) scalarText(n ast.Node, key string) (string, bool) {
	switch v := l.value(n).(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		if v.Value == nil {
			return "", true
		}
		return v.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return v.GetToken().Value, true
	default:
		l.errorf(n, key, "want text, got %s", describeNode(v))
		return "", false
	}
}

// isBinary reports whether n carries YAML's !!binary tag (base64 bytes),
// through any anchors and aliases.
func (l *loader) isBinary(n ast.Node) bool {
	for range 1000 {
		switch v := n.(type) {
		case *ast.TagNode:
			tag := v.Start.Value
			return tag == "!!binary" || tag == "!<tag:yaml.org,2002:binary>"
		case *ast.AnchorNode:
			n = v.Value
		case *ast.AliasNode:
			if n = l.alias[v]; n == nil {
				return false
			}
		default:
			return false
		}
	}
	return false
}

// textBytes reads the bytes of data: or expect:: text as it is, or
// !!binary's base64 (line breaks and spaces ignored) decoded.
func (l *loader) textBytes(n ast.Node, key string) ([]byte, bool) {
	if !l.isBinary(n) {
		s, ok := l.text(n, key)
		return []byte(s), ok
	}
	s, ok := l.scalarText(n, key)
	if !ok {
		return nil, false
	}
	b, err := base64.StdEncoding.DecodeString(strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s))
	if err != nil {
		l.errorf(n, key, "!!binary is not base64: %v", err)
		return nil, false
	}
	return b, true
}

// boolean reads true or false.
func (l *loader) boolean(n ast.Node, key string) (bool, bool) {
	if b, ok := l.value(n).(*ast.BoolNode); ok {
		return b.Value, true
	}
	l.errorf(n, key, "want true or false, got %s", describeNode(l.value(n)))
	return false, false
}

// number reads a whole number: a YAML integer, or text holding one in
// decimal or with 0x, 0o or 0b. units allows a size suffix (KiB, MiB, GiB,
// TiB, KB, MB, GB, TB, B). Negative numbers and values above max are errors.
func (l *loader) number(n ast.Node, key string, max uint64, units bool) (uint64, bool) {
	var (
		v   uint64
		err error
		hex bool // written in hex: errors answer in hex
	)
	switch x := l.value(n).(type) {
	case *ast.IntegerNode:
		hex = x.GetToken() != nil && isHex(x.GetToken().Value)
		switch i := intValue(x).(type) {
		case int64:
			if i < 0 {
				l.errorf(n, key, "must not be negative, got %d", i)
				return 0, false
			}
			v = uint64(i)
		case uint64:
			v = i
		default:
			err = fmt.Errorf("not a whole number")
		}
	case *ast.StringNode:
		s := strings.TrimSpace(x.Value)
		hex = isHex(s)
		if strings.HasPrefix(s, "-") {
			l.errorf(n, key, "must not be negative, got %q", shortenText(x.Value, 40))
			return 0, false
		}
		if units {
			v, err = parseSize(s)
		} else {
			v, err = parseUint(s)
		}
	case *ast.FloatNode:
		if x.Value < 0 {
			l.errorf(n, key, "must not be negative, got %s", x.GetToken().Value)
			return 0, false
		}
		if x.Value != math.Trunc(x.Value) || x.Value >= 1<<64 {
			err = fmt.Errorf("%s is not a whole number", x.GetToken().Value)
		} else {
			v = uint64(x.Value)
		}
	default:
		want := "a number"
		if units {
			want = "a size (a number of bytes, or with a unit such as 64MiB)"
		}
		l.errorf(n, key, "want %s, got %s", want, describeNode(x))
		return 0, false
	}
	if err != nil {
		l.errorf(n, key, "%v", err)
		return 0, false
	}
	if v > max {
		got, limit := strconv.FormatUint(v, 10), strconv.FormatUint(max, 10)
		switch {
		case units:
			got, limit = spellSize(v), spellSize(max)
		case hex:
			got, limit = fmt.Sprintf("%#x", v), fmt.Sprintf("%#x", max)
		}
		l.errorf(n, key, "%s is too large: at most %s", got, limit)
		return 0, false
	}
	return v, true
}

// intValue is an integer node's value (int64 or uint64). go-yaml reads
// 017 as octal, as YAML 1.1 did; the format's numbers are decimal unless
// they say 0o, so there a leading zero is only a zero, as in "017"
// written as text.
func intValue(iv *ast.IntegerNode) any {
	tk := iv.GetToken()
	if tk == nil {
		return iv.Value
	}
	digits, neg := strings.TrimPrefix(tk.Value, "+"), false
	if rest, ok := strings.CutPrefix(digits, "-"); ok {
		digits, neg = rest, true
	}
	if len(digits) < 2 || digits[0] != '0' || strings.Trim(digits, "0123456789") != "" {
		return iv.Value
	}
	v, err := strconv.ParseUint(digits, 10, 64)
	switch {
	case err != nil:
		return iv.Value
	case neg && v <= 1<<63:
		return -int64(v)
	case neg:
		return iv.Value
	}
	return v
}

// spellSize prints a size for an error: in the largest binary unit that
// divides it, then its bytes. Rounding ("1.0 TiB") would make a limit and
// a value just past it read the same.
func spellSize(v uint64) string {
	b := strconv.FormatUint(v, 10) + " bytes"
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	u := -1
	for u+1 < len(units) && v != 0 && v%(1<<(10*(u+2))) == 0 {
		u++
	}
	if u < 0 {
		return b
	}
	return fmt.Sprintf("%d %s (%s)", v>>(10*(u+1)), units[u], b)
}

// numberBase splits off a 0x, 0o or 0b prefix (any case): the base and
// the digits after it; text without one is decimal.
func numberBase(s string) (base int, digits string) {
	if len(s) > 2 && s[0] == '0' {
		switch s[1] {
		case 'x', 'X':
			return 16, s[2:]
		case 'o', 'O':
			return 8, s[2:]
		case 'b', 'B':
			return 2, s[2:]
		}
	}
	return 10, s
}

// isHex reports whether a number is written with 0x.
func isHex(s string) bool {
	base, _ := numberBase(strings.TrimLeft(s, "+-"))
	return base == 16
}

// parseUint reads decimal, 0x hex, 0o octal or 0b binary text.
func parseUint(s string) (uint64, error) {
	base, digits := numberBase(strings.TrimPrefix(s, "+"))
	v, err := strconv.ParseUint(digits, base, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, fmt.Errorf("%q does not fit in 64 bits", shortenText(s, 40))
		}
		return 0, fmt.Errorf("want a number, got %q", shortenText(s, 40))
	}
	return v, nil
}

// sizeUnits are the suffixes a size may carry, in the order errors list them.
var sizeUnits = []string{"B", "KiB", "MiB", "GiB", "TiB", "KB", "MB", "GB", "TB"}

// parseSize reads a number of bytes, plain or with one of sizeUnits (any
// case, optionally after a space). Units are checked here because
// humanize also takes "64M" as 64,000,000, which is rarely what is meant.
func parseSize(s string) (uint64, error) {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.TrimSpace(s[i:])
	if unit == "" {
		return parseUint(s)
	}
	if base, _ := numberBase(s); base != 10 {
		v, err := parseUint(s)
		if err != nil {
			return 0, fmt.Errorf("%v; a 0x, 0o or 0b number is bytes, a size with a unit is decimal (such as 64MiB)", err)
		}
		return v, nil
	}
	if num == "" {
		return 0, fmt.Errorf("want a size such as 4096 or 64MiB, got %q", shortenText(s, 40))
	}
	ok := false
	for _, u := range sizeUnits {
		if strings.EqualFold(unit, u) {
			ok = true
		}
	}
	if !ok {
		return 0, fmt.Errorf("unknown unit %q in %q: want one of %s", shortenText(unit, 20), shortenText(s, 40), strings.Join(sizeUnits, ", "))
	}
	// The number is read exactly, as a fraction: a float would take
	// 4.0000000000000000001MiB for 4MiB, and 1.00000001KiB for 1KiB.
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("bad size %q: want a number and a unit, such as 64MiB or 1.5GiB", shortenText(s, 40))
	}
	unitBytes, _ := humanize.ParseBytes("1" + unit) // a unit of sizeUnits
	r.Mul(r, new(big.Rat).SetUint64(unitBytes))
	switch {
	case !r.IsInt():
		return 0, fmt.Errorf("%q is not a whole number of bytes", shortenText(s, 40))
	case !r.Num().IsUint64():
		return 0, fmt.Errorf("%q is more bytes than 64 bits can count", shortenText(s, 40))
	}
	return r.Num().Uint64(), nil
}

// fraction reads a probability, 0..1.
func (l *loader) fraction(n ast.Node, key string) (float64, bool) {
	var f float64
	switch x := l.value(n).(type) {
	case *ast.FloatNode:
		f = x.Value
	case *ast.IntegerNode:
		switch i := x.Value.(type) {
		case int64:
			f = float64(i)
		case uint64:
			f = float64(i)
		}
	case *ast.StringNode:
		v, err := strconv.ParseFloat(strings.TrimSpace(x.Value), 64)
		if err != nil {
			l.errorf(n, key, "want a probability from 0 to 1, got %s", describeNode(x))
			return 0, false
		}
		f = v
	default:
		l.errorf(n, key, "want a probability from 0 to 1, got %s", describeNode(x))
		return 0, false
	}
	if !(f >= 0 && f <= 1) {
		l.errorf(n, key, "probability must be from 0 to 1, got %s", l.value(n).GetToken().Value)
		return 0, false
	}
	return f, true
}

// list reads a sequence.
func (l *loader) list(n ast.Node, key string) ([]ast.Node, bool) {
	if s, ok := l.value(n).(*ast.SequenceNode); ok {
		return s.Values, true
	}
	l.errorf(n, key, "want a list, got %s", describeNode(l.value(n)))
	return nil, false
}

// render writes n on one line in flow style, for Step.Line. It stops
// early once the line is long, so it costs little whatever n holds.
func (l *loader) render(b *strings.Builder, n ast.Node, depth int) {
	const long = 160
	if b.Len() > long {
		return
	}
	if l.isBinary(n) {
		b.WriteString("!!binary ") // the text after it is not the bytes
	}
	switch v := l.value(n).(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		if depth >= 4 {
			b.WriteString("{...}")
			return
		}
		ents, _ := l.entriesQuiet(v)
		b.WriteByte('{')
		l.renderEntries(b, ents, depth+1)
		b.WriteByte('}')
	case *ast.SequenceNode:
		if depth >= 4 {
			b.WriteString("[...]")
			return
		}
		b.WriteByte('[')
		for i, e := range v.Values {
			if i > 0 {
				b.WriteString(", ")
			}
			if b.Len() > long {
				b.WriteString("...")
				break
			}
			l.render(b, e, depth+1)
		}
		b.WriteByte(']')
	case nil, *ast.NullNode:
		b.WriteString("null")
	case *ast.StringNode:
		b.WriteString(renderText(v.Value, v.Token != nil && (v.Token.Type == token.DoubleQuoteType || v.Token.Type == token.SingleQuoteType)))
	case *ast.LiteralNode:
		if v.Value != nil {
			b.WriteString(renderText(v.Value.Value, true))
		}
	default:
		if tk := v.GetToken(); tk != nil {
			b.WriteString(tk.Value)
		}
	}
}

// renderEntries writes a map's entries, leaving out the null ones, which
// count as absent.
func (l *loader) renderEntries(b *strings.Builder, ents []mapEntry, depth int) {
	first := true
	for _, e := range ents {
		if l.isNull(e.val) {
			continue
		}
		if !first {
			b.WriteString(", ")
		}
		first = false
		b.WriteString(e.key)
		b.WriteString(": ")
		l.render(b, e.val, depth)
	}
}

// entriesQuiet is entries without errors (render runs on checked nodes).
func (l *loader) entriesQuiet(n ast.Node) ([]mapEntry, bool) {
	best, nerrs := l.best, l.nerrs
	ents, ok := l.entries(n, "", 1)
	l.best, l.nerrs = best, nerrs
	return ents, ok
}

// renderText quotes s when it was quoted or would not read back as text.
// Only the start of a long s is rendered: the line is cut short anyway
// (finishLine), and a text that many steps alias would otherwise cost its
// whole length at each.
func renderText(s string, quoted bool) string {
	s = shortenText(s, renderedTextBytes)
	if !quoted && s != "" && !strings.ContainsAny(s, ":,{}[]#&*!|>'\"%@`\n\t") &&
		strings.TrimSpace(s) == s {
		return s
	}
	return strconv.Quote(s)
}

// renderedTextBytes is how much of a text renderText renders: more than a
// finished line holds.
const renderedTextBytes = 2 * lineLimit

// finishLine caps a rendered step at lineLimit bytes.
func finishLine(s string) string {
	if len(s) <= lineLimit {
		return s
	}
	return shortenText(s, lineLimit-3)
}

// lineLimit is the longest step line, in bytes.
const lineLimit = 120
