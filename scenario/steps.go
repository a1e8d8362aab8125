package scenario

// Reading steps: one verb per step, cpu: and driver: in either place,
// names bound and used in program order, repeats counted but never
// expanded. See doc.go.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	fspath "path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/dustin/go-humanize"
	"github.com/goccy/go-yaml/ast"

	"simkern/cpu"
	"simkern/pool"
)

var verbs = []string{"alloc", "free", "write", "read", "irql", "trim", "page_out", "write_modified", "kd", "unload", "repeat", "workload", "replay"}

var stepKeys = append(append([]string(nil), verbs...), "cpu", "driver")

// verbKeys lists the keys of the verbs that take a map. The other verbs
// take one scalar, so their cpu: and driver: can only stand beside them.
var verbKeys = map[string][]string{
	"alloc":    {"pool", "size", "tag", "as", "expect_null", "cpu", "driver"},
	"free":     {"at", "tag", "cpu", "driver"},
	"write":    {"at", "data", "fill", "length", "bytes", "u64", "cpu", "driver"},
	"read":     {"at", "length", "expect", "bytes", "cpu", "driver"},
	"repeat":   {"times", "steps", "cpu", "driver"},
	"workload": {"ops", "pool", "sizes", "live", "tag", "verify", "keep", "cpu", "driver"},
}

var defaultAllocTag = pool.TagOf("None")    // ExAllocatePool's tag
var defaultWorkloadTag = pool.TagOf("Wrkl") // the format's example

// inherit is what a step takes from around it: the thread's CPU, or a
// repeat's cpu: and driver:.
type inherit struct {
	cpu    int
	driver string
	thread string
}

// tally counts what a list of steps does when run: steps executed and
// pool operations from workloads and replays, repeats multiplied out.
// Both saturate far above the limits, so no count overflows.
type tally struct{ steps, ops uint64 }

const saturated = 1 << 62

func (t tally) add(u tally) tally {
	return tally{min(t.steps+u.steps, saturated), min(t.ops+u.ops, saturated)}
}

func (t tally) times(n uint64) tally {
	mul := func(a uint64) uint64 {
		if n != 0 && a > saturated/n {
			return saturated
		}
		return a * n
	}
	return tally{mul(t.steps), mul(t.ops)}
}

// listKey identifies a list of steps read in one context. An alias can
// make one list appear many times; read once per context, it costs the
// loader what the file costs to write, however far the aliases multiply.
type listKey struct {
	list  *ast.SequenceNode
	in    inherit
	depth int
}

type listResult struct {
	steps []Step
	t     tally
}

// stepList reads a list of steps.
func (l *loader) stepList(n ast.Node, path string, in inherit, depth int) ([]Step, tally) {
	seq, _ := l.value(n).(*ast.SequenceNode)
	if r, ok := l.lists[listKey{seq, in, depth}]; ok && seq != nil {
		return r.steps, r.t // the same steps again: their errors are reported
	}
	items, ok := l.list(n, path)
	if !ok {
		return nil, tally{}
	}
	out := make([]Step, 0, len(items))
	var t tally
	for i, item := range items {
		if l.stepVisits >= maxStepVisits {
			l.errorf(item, keyIndex(path, i), "too many steps to read: more than %d, aliases expanded", maxStepVisits)
			break
		}
		st, u := l.step(item, keyIndex(path, i), in, depth)
		out = append(out, st)
		t = t.add(u)
	}
	if seq != nil {
		l.lists[listKey{seq, in, depth}] = listResult{out, t}
	}
	return out, t
}

// step reads one step.
func (l *loader) step(n ast.Node, path string, in inherit, depth int) (Step, tally) {
	l.stepVisits++
	l.seq++
	st := Step{Pos: l.pos(n), CPU: in.cpu, Driver: in.driver, Thread: in.thread}
	switch l.value(n).(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
	default:
		l.errorf(n, path, "a step is a map with one verb, such as `trim: all`; got %s", describeNode(l.value(n)))
		return st, tally{}
	}
	o, _ := l.object(n, path, stepKeys)
	var verb *mapEntry
	for i, e := range o.ents {
		if !slices.Contains(verbs, e.key) {
			continue
		}
		if verb != nil {
			l.errorf(e.kn, keyJoin(path, e.key), "a step has one verb, and this one also has %q; give each its own step", verb.key)
			continue
		}
		verb = &o.ents[i]
	}
	if verb == nil {
		if o.unknown {
			return st, tally{} // most likely the verb, misspelt: reported
		}
		l.errorf(n, path, "the step has no verb: want one of %s", strings.Join(verbs, ", "))
		return st, tally{}
	}
	st.Pos, st.Verb = l.pos(verb.kn), verb.key
	var b strings.Builder
	l.renderEntries(&b, o.ents, 1)
	st.Line = finishLine(b.String())

	vpath := keyJoin(path, verb.key)
	var inner *yamlMap
	if keys, ok := verbKeys[verb.key]; ok {
		switch l.value(verb.val).(type) {
		case *ast.MappingNode, *ast.MappingValueNode:
			inner, _ = l.object(verb.val, vpath, keys)
		}
	} else {
		switch l.value(verb.val).(type) {
		case *ast.MappingNode, *ast.MappingValueNode:
			l.errorf(verb.val, vpath, "%s takes a single value; put cpu: and driver: beside it, not inside", verb.key)
			return st, tally{1, 0}
		}
	}
	l.placement(&st, o, inner, verb.key)
	here := inherit{cpu: st.CPU, driver: st.Driver, thread: st.Thread}

	t := tally{1, 0}
	switch verb.key {
	case "alloc":
		st.Alloc = l.alloc(inner, verb.val, vpath)
	case "free":
		st.Free = l.free(inner, verb.val, vpath)
	case "write":
		st.Write = l.write(inner, verb.val, vpath)
	case "read":
		st.Read = l.read(inner, verb.val, vpath)
	case "irql":
		st.IRQL = l.irql(verb.val, vpath)
	case "trim":
		st.Trim = l.target(verb.val, vpath)
	case "page_out":
		st.PageOut = l.target(verb.val, vpath)
	case "write_modified":
		st.WriteModified = l.target(verb.val, vpath)
	case "kd":
		if s, ok := l.text(verb.val, vpath); ok {
			switch {
			case strings.TrimSpace(s) == "":
				l.errorf(verb.val, vpath, "the debugger command is empty")
			case len(s) > MaxKDBytes:
				l.errorf(verb.val, vpath, "the debugger command is %d bytes long: at most %d", len(s), MaxKDBytes)
			}
			st.KD = s
		}
	case "unload":
		st.Unload = l.driverName(verb.val, vpath)
	case "repeat":
		st.Repeat, t = l.repeat(inner, verb.val, vpath, here, depth)
	case "workload":
		st.Workload = l.workload(inner, verb.val, vpath)
		if st.Workload != nil {
			t.ops = st.Workload.Ops
		}
	case "replay":
		st.Replay = l.replay(verb.val, vpath, st.Pos)
		if st.Replay != nil {
			t.ops = st.Replay.Ops
		}
	}
	return st, t
}

// needMap reports a map verb given something else.
func (l *loader) needMap(inner *yamlMap, n ast.Node, path, example string) bool {
	if inner != nil {
		return true
	}
	if _, ok := l.value(n).(*ast.AliasNode); !ok { // an unknown alias is reported already
		l.errorf(n, path, "want a map such as %s, got %s", example, describeNode(l.value(n)))
	}
	return false
}

// placement reads cpu: and driver:, beside the verb or inside its map.
func (l *loader) placement(st *Step, o, inner *yamlMap, verb string) {
	pick := func(k string) (ast.Node, string) {
		n, key := o.get(k), ""
		if n != nil {
			key = o.key(k)
		}
		if inner != nil {
			if in := inner.get(k); in != nil {
				if n != nil {
					l.errorf(inner.keyNode(k), inner.key(k), "%s is given twice, beside %s and inside it", k, verb)
				}
				n, key = in, inner.key(k)
			}
		}
		return n, key
	}
	if n, key := pick("cpu"); n != nil {
		if c, ok := l.cpuIndex(n, key); ok {
			st.CPU, st.CPUSet = c, true
		}
	}
	if n, key := pick("driver"); n != nil {
		st.Driver = l.driverName(n, key)
	}
}

// cpuIndex reads a CPU number that must exist on the machine.
func (l *loader) cpuIndex(n ast.Node, key string) (int, bool) {
	v, ok := l.number(n, key, MaxCPUs-1, false)
	if !ok {
		return 0, false
	}
	if l.cpusOK && v >= uint64(l.cpus) {
		l.errorf(n, key, "cpu %d does not exist: the machine has %d (machine.cpus; CPUs count from 0)", v, l.cpus)
		return 0, false
	}
	return int(v), true
}

// driverName reads a driver's name (see knownDriver).
func (l *loader) driverName(n ast.Node, key string) string {
	s, ok := l.text(n, key)
	if !ok || !l.knownDriver(n, key, s) {
		return ""
	}
	return s
}

// knownDriver reports whether s names a driver. With a drivers: list it
// must be listed there, which catches a misspelt name; a file without
// one declares a driver by naming it.
func (l *loader) knownDriver(n ast.Node, key, s string) bool {
	switch {
	case strings.TrimSpace(s) == "":
		l.errorf(n, key, "the driver name is empty")
		return false
	case l.drivers[s]:
		return true
	case l.listed:
		if l.driversOK { // a broken list has been reported already
			l.errorf(n, key, "%s", l.notListed(s))
		}
		return false
	case s == "*":
		l.errorf(n, key, "\"*\" is not a driver name; verifier.drivers uses it to mean every driver")
		return false
	case l.longName(n, key, s):
		return false
	}
	l.drivers[s] = true
	l.declared = append(l.declared, s)
	return true
}

// notListed explains that driver s is missing from drivers:.
func (l *loader) notListed(s string) string {
	msg := fmt.Sprintf("driver %.40q is not listed in drivers", s)
	if len(l.drivers) == 0 {
		return msg + fmt.Sprintf(": the list is empty; add %.40q to it", s)
	}
	names := make([]string, 0, len(l.drivers))
	for d := range l.drivers {
		names = append(names, d)
	}
	sort.Strings(names)
	if m := suggest(s, names); m != "" {
		return msg + fmt.Sprintf("; did you mean %q?", m)
	}
	return msg + " (" + strings.Join(names, ", ") + ")"
}

// bind records that the current step binds name.
func (l *loader) bind(name string) {
	if _, ok := l.binds[name]; !ok {
		l.binds[name] = l.seq
	}
}

// need records that the current step uses name.
func (l *loader) need(name string, n ast.Node, key string, anywhere bool) {
	l.uses = append(l.uses, nameUse{name: name, pos: l.pos(n), key: key, seq: l.seq, anywhere: anywhere})
}

// validName: a letter or _, then letters, digits and _; "all" is taken.
// maxNameBytes bounds a name's length: a bound name's, a driver's or a
// thread's, which step lines and events repeat.
const maxNameBytes = 64

func validName(s string) bool {
	if s == "" || len(s) > maxNameBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// longName reports s, read at n, when it is longer than a name may be,
// and says whether it was.
func (l *loader) longName(n ast.Node, key, s string) bool {
	if len(s) <= maxNameBytes {
		return false
	}
	l.errorf(n, key, "%q is too long for a name: at most %d characters", shortenText(s, 40), maxNameBytes)
	return true
}

// addr reads an address operand and records the name it uses.
func (l *loader) addr(n ast.Node, key string) (Addr, bool) {
	if iv, ok := l.value(n).(*ast.IntegerNode); ok {
		v, ok := l.number(iv, key, math.MaxUint64, false)
		return Addr{Literal: v, IsLiteral: true}, ok
	}
	s, ok := l.text(n, key)
	if !ok {
		return Addr{}, false
	}
	a, err := parseAddr(s)
	if err != nil {
		l.errorf(n, key, "%v", err)
		return Addr{}, false
	}
	if !a.IsLiteral {
		l.need(a.Name, n, key, false)
	}
	return a, true
}

// parseAddr reads "buf", "buf+0x10", "buf-16" or "0xfffff80000001000".
func parseAddr(s string) (Addr, error) {
	t := strings.ReplaceAll(strings.TrimSpace(s), " ", "")
	bad := func(why string) (Addr, error) {
		return Addr{}, fmt.Errorf("bad address %q: %s; want a name, name+offset, name-offset or a number", shortenText(s, 40), why)
	}
	if t == "" {
		return bad("it is empty")
	}
	if t[0] >= '0' && t[0] <= '9' {
		v, err := parseUint(t)
		if err != nil {
			return bad(err.Error())
		}
		return Addr{Literal: v, IsLiteral: true}, nil
	}
	i := 0
	for i < len(t) && t[i] != '+' && t[i] != '-' {
		i++
	}
	name := t[:i]
	if !validName(name) {
		return bad(fmt.Sprintf("%q is not a name (a letter or _, then letters, digits and _)", shortenText(name, 40)))
	}
	a := Addr{Name: name}
	if i == len(t) {
		return a, nil
	}
	v, err := parseUint(t[i+1:])
	if err != nil || strings.HasPrefix(t[i+1:], "+") {
		return bad(fmt.Sprintf("the offset %q is not a number", shortenText(t[i+1:], 40)))
	}
	if t[i] == '+' {
		if v > math.MaxInt64 {
			return bad("the offset does not fit in 63 bits")
		}
		a.Offset = int64(v)
	} else {
		if v > 1<<63 {
			return bad("the offset does not fit in 63 bits")
		}
		a.Offset = int64(-v)
	}
	return a, nil
}

// poolType reads a POOL_TYPE name or number.
func (l *loader) poolType(n ast.Node, key string) (pool.Type, bool) {
	s, ok := l.text(n, key)
	if !ok {
		return 0, false
	}
	t, err := pool.ParseType(strings.TrimSpace(s))
	if err != nil {
		msg := fmt.Sprintf("unknown pool type %q", shortenText(s, 40))
		if m := suggest(s, pool.TypeNames()); m != "" {
			msg += fmt.Sprintf("; did you mean %q?", m)
		}
		l.errorf(n, key, "%s Valid: %s, by name or number", msg+sentenceEnd(msg), pool.ValidTypes())
		return 0, false
	}
	return t, true
}

// tag reads a pool tag: one to four printable characters, 0x..., or the
// number 0.
func (l *loader) tag(n ast.Node, key string) (pool.Tag, bool) {
	s, ok := l.text(n, key)
	if !ok {
		return 0, false
	}
	if _, number := l.value(n).(*ast.IntegerNode); number && s == "0" {
		// Tag zero, which the pool refuses (0xC2/0x9B): what a file
		// that writes the number means. Quoted, "0" is a tag's text.
		return 0, true
	}
	t, err := pool.ParseTag(s)
	if err != nil {
		l.errorf(n, key, "%v", err)
		return 0, false
	}
	return t, true
}

func (l *loader) alloc(o *yamlMap, n ast.Node, path string) *AllocStep {
	if !l.needMap(o, n, path, "{pool: PagedPool, size: 100, tag: Abcd, as: buf}") {
		return nil
	}
	a := &AllocStep{Tag: defaultAllocTag}
	if v := o.get("pool"); v != nil {
		a.Pool, _ = l.poolType(v, o.key("pool"))
	} else {
		o.missing("pool", "one of "+strings.Join(pool.TypeNames(), ", "))
	}
	if v := o.get("size"); v != nil {
		a.Size, _ = l.number(v, o.key("size"), MaxAllocBytes, true)
	} else {
		o.missing("size", "bytes, such as 100 or 4KiB")
	}
	if v := o.get("tag"); v != nil {
		a.Tag, _ = l.tag(v, o.key("tag"))
	}
	if v := o.get("expect_null"); v != nil {
		a.ExpectNull, _ = l.boolean(v, o.key("expect_null"))
	}
	if v := o.get("as"); v != nil {
		if s, ok := l.text(v, o.key("as")); ok {
			switch {
			case s == "all":
				l.errorf(v, o.key("as"), "\"all\" cannot be a name: `trim: all` means every page")
			case l.longName(v, o.key("as"), s):
			case !validName(s):
				l.errorf(v, o.key("as"), "%q is not a name: want a letter or _, then letters, digits and _", shortenText(s, 40))
			default:
				a.As = s
				l.bind(s)
			}
		}
	}
	return a
}

func (l *loader) free(o *yamlMap, n ast.Node, path string) *FreeStep {
	f := &FreeStep{}
	if o == nil {
		if _, ok := l.value(n).(*ast.SequenceNode); ok {
			l.errorf(n, path, "want an address such as buf, or {at: buf, tag: Abcd}; got a list")
			return nil
		}
		f.At, _ = l.addr(n, path)
		return f
	}
	if v := o.get("at"); v != nil {
		f.At, _ = l.addr(v, o.key("at"))
	} else {
		o.missing("at", "the address to free")
	}
	if v := o.get("tag"); v != nil {
		f.Tag, _ = l.tag(v, o.key("tag"))
		f.WithTag = true
	}
	return f
}

// spend charges n bytes of write data or read expectation to the file.
func (l *loader) spend(n uint64, at ast.Node, key string) bool {
	l.dataBytes += n
	if l.dataBytes > MaxDataBytes {
		l.errorf(at, key, "the file's write data and read expectations pass %s", humanize.IBytes(MaxDataBytes))
		return false
	}
	return true
}

// byteList reads [1, 2, 0x41]: whole numbers up to 255.
func (l *loader) byteList(n ast.Node, key string) ([]byte, bool) {
	items, ok := l.list(n, key)
	if !ok {
		return nil, false
	}
	if len(items) > MaxIOBytes {
		l.errorf(n, key, "more than %s of bytes", humanize.IBytes(MaxIOBytes))
		return nil, false
	}
	if !l.spend(uint64(len(items)), n, key) {
		return nil, false
	}
	out := make([]byte, len(items))
	for i, it := range items {
		v, ok := l.number(it, keyIndex(key, i), 255, false)
		if !ok {
			return nil, false
		}
		out[i] = byte(v)
	}
	return out, true
}

func (l *loader) write(o *yamlMap, n ast.Node, path string) *WriteStep {
	if !l.needMap(o, n, path, "{at: buf, data: \"hello\"}") {
		return nil
	}
	w := &WriteStep{}
	if v := o.get("at"); v != nil {
		w.At, _ = l.addr(v, o.key("at"))
	} else {
		o.missing("at", "the address to write")
	}
	var forms []string
	for _, k := range []string{"data", "fill", "bytes", "u64"} {
		if o.get(k) != nil {
			forms = append(forms, k)
		}
	}
	if len(forms) == 0 {
		if o.unknown {
			return w
		}
		l.errorf(o.node, path, "say what to write: data: \"text\", fill: 0x41 with length: N, bytes: [1, 2], or u64: 0x1234")
		return w
	}
	if len(forms) > 1 {
		l.errorf(o.keyNode(forms[1]), o.key(forms[1]), "give one of data, fill, bytes and u64; this write also has %s", forms[0])
		return w
	}
	if lv := o.get("length"); lv != nil && forms[0] != "fill" {
		l.errorf(o.keyNode("length"), o.key("length"), "length goes with fill; %s says its own length", forms[0])
		return w
	}
	switch v := o.get(forms[0]); forms[0] {
	case "data":
		b, ok := l.textBytes(v, o.key("data"))
		if !ok {
			break
		}
		if len(b) == 0 {
			l.errorf(v, o.key("data"), "data is empty: a write needs at least one byte")
		} else if uint64(len(b)) > MaxIOBytes {
			l.errorf(v, o.key("data"), "data is longer than %s", humanize.IBytes(MaxIOBytes))
		} else if l.spend(uint64(len(b)), v, o.key("data")) {
			w.Data = b
		}
	case "fill":
		b, ok := l.number(v, o.key("fill"), 255, false)
		lv := o.get("length")
		if lv == nil {
			o.missing("length", "how many bytes to fill")
			break
		}
		length, ok2 := l.number(lv, o.key("length"), MaxIOBytes, true)
		if ok2 && length == 0 {
			l.errorf(lv, o.key("length"), "length must be at least 1")
			ok2 = false
		}
		if ok && ok2 && l.spend(length, lv, o.key("length")) {
			w.Data = bytes.Repeat([]byte{byte(b)}, int(length))
		}
	case "bytes":
		if b, ok := l.byteList(v, o.key("bytes")); ok {
			if len(b) == 0 {
				l.errorf(v, o.key("bytes"), "bytes is empty: a write needs at least one byte")
			}
			w.Data = b
		}
	case "u64":
		if x, ok := l.number(v, o.key("u64"), math.MaxUint64, false); ok && l.spend(8, v, o.key("u64")) {
			w.Data = binary.LittleEndian.AppendUint64(nil, x)
		}
	}
	return w
}

func (l *loader) read(o *yamlMap, n ast.Node, path string) *ReadStep {
	if !l.needMap(o, n, path, "{at: buf, length: 5, expect: \"hello\"}") {
		return nil
	}
	r := &ReadStep{}
	if v := o.get("at"); v != nil {
		r.At, _ = l.addr(v, o.key("at"))
	} else {
		o.missing("at", "the address to read")
	}
	// The expected bytes: expect: as text, [1, 2] or {bytes: [1, 2]}, or
	// bytes: beside it, as a write gives them (one reading of the format's
	// "expect (text or bytes: [...])").
	ek := "expect"
	if o.get("bytes") != nil {
		if o.get("expect") != nil {
			l.errorf(o.get("bytes"), o.key("bytes"), "give the expected bytes once: expect: or bytes:, not both")
		}
		ek = "bytes"
	}
	switch v := o.get(ek); {
	case v == nil:
	case ek == "bytes": // a list, as write's bytes:
		r.Expect, r.HasExpect = l.byteList(v, o.key(ek))
	default:
		key := o.key(ek)
		switch l.value(v).(type) {
		case *ast.MappingNode, *ast.MappingValueNode:
			if eo, ok := l.object(v, key, []string{"bytes"}); ok {
				if b := eo.get("bytes"); b != nil {
					r.Expect, r.HasExpect = l.byteList(b, eo.key("bytes"))
				} else {
					eo.missing("bytes", "the expected bytes, such as [0x41, 0x42]")
				}
			}
		case *ast.SequenceNode: // expect: [1, 2, 3], as bytes: [1, 2, 3] in write
			r.Expect, r.HasExpect = l.byteList(v, key)
		default:
			if b, ok := l.textBytes(v, key); ok {
				if uint64(len(b)) > MaxIOBytes {
					l.errorf(v, key, "expect is longer than %s", humanize.IBytes(MaxIOBytes))
				} else if l.spend(uint64(len(b)), v, key) {
					r.Expect, r.HasExpect = b, true
				}
			}
		}
	}
	if v := o.get("length"); v != nil {
		length, ok := l.number(v, o.key("length"), MaxIOBytes, true)
		switch {
		case !ok:
		case length == 0:
			l.errorf(v, o.key("length"), "length must be at least 1")
		case r.HasExpect && length != uint64(len(r.Expect)):
			l.errorf(v, o.key("length"), "length is %d but %s has %d bytes", length, ek, len(r.Expect))
		default:
			r.Length = length
		}
	} else if r.HasExpect {
		r.Length = uint64(len(r.Expect))
		if r.Length == 0 {
			l.errorf(o.get(ek), o.key(ek), "%s is empty: a read needs at least one byte", ek)
		}
	} else if o.get(ek) == nil {
		o.missing("length", "how many bytes to read (or give expect:)")
	}
	return r
}

func (l *loader) irql(n ast.Node, path string) *cpu.IRQL {
	switch l.value(n).(type) {
	case *ast.IntegerNode, *ast.FloatNode: // a level, read as every number is
		level, ok := l.number(n, path, uint64(cpu.MaxIRQL), false)
		if !ok {
			return nil
		}
		v := cpu.IRQL(level)
		return &v
	}
	s, ok := l.text(n, path)
	if !ok {
		return nil
	}
	v, err := cpu.ParseIRQL(s)
	if err != nil {
		// The format's numbers also say 0o and 0b, which cpu's parser
		// (kd's syntax) does not take.
		if level, nerr := parseUint(strings.TrimSpace(s)); nerr == nil && level <= uint64(cpu.MaxIRQL) {
			v = cpu.IRQL(level)
			return &v
		}
		msg := fmt.Sprintf("unknown IRQL %q", shortenText(s, 40))
		if m := suggest(strings.ToUpper(s), cpu.IRQLNames()); m != "" {
			msg += fmt.Sprintf("; did you mean %s?", m)
		}
		l.errorf(n, path, "%s Valid: %s, or a number 0-%d", msg+sentenceEnd(msg), strings.Join(cpu.IRQLNames(), ", "), cpu.MaxIRQL)
		return nil
	}
	return &v
}

// target reads `all` or a bound name, for trim:, page_out: and
// write_modified:.
func (l *loader) target(n ast.Node, path string) *Target {
	s, ok := l.text(n, path)
	if !ok {
		return nil
	}
	s = strings.TrimSpace(s)
	if s == "all" {
		return &Target{All: true}
	}
	if !validName(s) {
		l.errorf(n, path, "want all or a name bound by alloc's as:, got %q", shortenText(s, 40))
		return nil
	}
	l.need(s, n, path, false)
	return &Target{Name: s}
}

func (l *loader) repeat(o *yamlMap, n ast.Node, path string, in inherit, depth int) (*RepeatStep, tally) {
	if !l.needMap(o, n, path, "{times: 10, steps: [...]}") {
		return nil, tally{1, 0}
	}
	r := &RepeatStep{}
	var times uint64
	tv := o.get("times")
	if tv != nil {
		times, _ = l.number(tv, o.key("times"), MaxRepeat, false)
		r.Times = int(times)
	} else {
		o.missing("times", fmt.Sprintf("how often to run the steps, 0 to %d", MaxRepeat))
	}
	sv := o.get("steps")
	if sv == nil {
		o.missing("steps", "the steps to run again")
		return r, tally{}
	}
	if depth+1 > MaxNesting {
		l.errorf(sv, o.key("steps"), "repeats nest more than %d deep", MaxNesting)
		return r, tally{}
	}
	var body tally
	r.Steps, body = l.stepList(sv, o.key("steps"), in, depth+1)
	r.BodySteps = body.steps
	t := body.times(times)
	at, key := tv, o.key("times")
	if at == nil {
		at, key = sv, o.key("steps")
	}
	if t.steps > MaxSteps && !l.overLimit {
		l.errorf(at, key, "this repeat runs %s steps; the limit is %d", countText(t.steps), MaxSteps)
		l.overLimit = true
	} else if t.ops > MaxOps && !l.overLimit {
		l.errorf(at, key, "this repeat runs %s pool operations; the limit is %d", countText(t.ops), MaxOps)
		l.overLimit = true
	}
	return r, t
}

// sentenceEnd returns "." unless msg ends a sentence already.
func sentenceEnd(msg string) string {
	if strings.HasSuffix(msg, "?") {
		return ""
	}
	return "."
}

func countText(n uint64) string {
	if n >= saturated {
		return "more than " + strconv.FormatUint(saturated, 10)
	}
	return strconv.FormatUint(n, 10)
}

func (l *loader) workload(o *yamlMap, n ast.Node, path string) *WorkloadStep {
	if !l.needMap(o, n, path, "{ops: 100000, pool: NonPagedPool, sizes: 16-1024, live: 1000}") {
		return nil
	}
	w := &WorkloadStep{Live: 1, Tag: defaultWorkloadTag}
	if v := o.get("ops"); v != nil {
		var ok bool
		if w.Ops, ok = l.number(v, o.key("ops"), MaxOps, false); ok && w.Ops == 0 {
			l.errorf(v, o.key("ops"), "ops must be at least 1")
		}
	} else {
		o.missing("ops", "allocations plus frees to do")
	}
	if v := o.get("pool"); v != nil {
		w.Pool, _ = l.poolType(v, o.key("pool"))
	} else {
		o.missing("pool", "one of "+strings.Join(pool.TypeNames(), ", "))
	}
	if v := o.get("sizes"); v != nil {
		w.MinSize, w.MaxSize, _ = l.sizeRange(v, o.key("sizes"))
	} else {
		o.missing("sizes", "a range such as 16-1024, or one size")
	}
	if v := o.get("live"); v != nil {
		live, ok := l.number(v, o.key("live"), MaxOps, false)
		switch {
		case !ok:
		case live == 0:
			l.errorf(v, o.key("live"), "live must be at least 1")
		default: // above ops, the workload only allocates, as the format's words say
			w.Live = live
		}
	}
	if v := o.get("tag"); v != nil {
		w.Tag, _ = l.tag(v, o.key("tag"))
	}
	if v := o.get("verify"); v != nil {
		w.Verify, _ = l.boolean(v, o.key("verify"))
	}
	if v := o.get("keep"); v != nil {
		w.Keep, _ = l.boolean(v, o.key("keep"))
	}
	return w
}

// sizeRange reads "16-1024", "4KiB-64KiB" or one size.
func (l *loader) sizeRange(n ast.Node, key string) (lo, hi uint64, ok bool) {
	s, isText := l.value(n).(*ast.StringNode)
	if !isText || !strings.Contains(s.Value, "-") {
		v, ok := l.number(n, key, MaxAllocBytes, true)
		if ok && v == 0 {
			l.errorf(n, key, "sizes must be at least 1 byte")
			return 0, 0, false
		}
		return v, v, ok
	}
	a, b, _ := strings.Cut(s.Value, "-")
	lo, err := parseSize(strings.TrimSpace(a))
	if err == nil {
		hi, err = parseSize(strings.TrimSpace(b))
	}
	switch {
	case err != nil:
		l.errorf(n, key, "bad size range %q: %v; want MIN-MAX such as 16-1024", shortenText(s.Value, 40), err)
	case lo == 0:
		l.errorf(n, key, "sizes must be at least 1 byte")
	case lo > hi:
		l.errorf(n, key, "the range %q runs backwards: %d is more than %d", shortenText(s.Value, 40), lo, hi)
	case hi > MaxAllocBytes:
		l.errorf(n, key, "%s is too large: at most %s", spellSize(hi), spellSize(MaxAllocBytes))
	default:
		return lo, hi, true
	}
	return 0, 0, false
}

// traceResult is one trace file, read once however many steps replay it.
type traceResult struct {
	file *traceFile
	err  *Error
}

func (l *loader) replay(n ast.Node, path string, at Pos) *ReplayStep {
	s, ok := l.text(n, path)
	if !ok {
		return nil
	}
	if strings.TrimSpace(s) == "" {
		l.errorf(n, path, "the trace path is empty")
		return nil
	}
	p := s
	switch {
	case l.fsys != nil:
		p = fspath.Join(fspath.Dir(l.file), p)
	case !filepath.IsAbs(p):
		p = filepath.Join(l.dir, p)
	}
	tr, ok := l.traces[p]
	if !ok {
		tr = &traceResult{}
		maxCPU := MaxCPUs
		if l.cpusOK {
			maxCPU = l.cpus
		}
		var err error
		tr.file, err = checkTrace(l.fsys, p, maxCPU, l.keptOps)
		if err == nil {
			l.keptOps -= uint64(len(tr.file.kept))
		} else {
			if e, ok := err.(*Error); ok {
				tr.err = e
			} else {
				tr.err = &Error{Pos: l.pos(n), Key: path, Msg: err.Error()}
			}
		}
		l.traces[p] = tr
		if tr.err == nil {
			l.traceOrder = append(l.traceOrder, p)
		}
	}
	if tr.err != nil {
		l.errIn(at, tr.err)
		return nil
	}
	return &ReplayStep{Path: p, FS: l.fsys, Ops: tr.file.ops, file: tr.file}
}
