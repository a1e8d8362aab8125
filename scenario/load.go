package scenario

// Load and Parse, and the sections of a scenario other than steps:
// machine, drivers, verifier, faults, threads, schedule and expect. See
// doc.go for the rules and limits.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	yaml "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"simkern/verifier"
)

var topKeys = []string{"name", "description", "machine", "drivers", "verifier", "faults", "steps", "threads", "schedule", "expect"}

// Load reads and parses the scenario file at path; positions name path as given.
func Load(path string) (*Scenario, error) {
	// Stat before opening: opening a FIFO would wait for a writer.
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, &Error{Pos: Pos{File: path}, Msg: "not a regular file: a scenario is a file of YAML"}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Pos: Pos{File: path}, Msg: fileError(err)}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, &Error{Pos: Pos{File: path}, Msg: fileError(err)}
	}
	return Parse(path, data)
}

// fileError drops the path an *os.PathError repeats.
func fileError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

// Parse loads a scenario from data; name is used in positions and is the
// directory replay: paths start from. It fills every default and checks
// every rule in doc.go; the error, if any, is the *Error that comes first
// in the file. Parse reads trace files but runs nothing.
func Parse(name string, data []byte) (*Scenario, error) { return parse(nil, name, data) }

// ParseFS is Parse for a scenario that lives in fsys (the embedded
// examples): its replay: paths are read from fsys, relative to name.
func ParseFS(fsys fs.FS, name string, data []byte) (*Scenario, error) { return parse(fsys, name, data) }

func parse(fsys fs.FS, name string, data []byte) (*Scenario, error) {
	whole := func(msg string) (*Scenario, error) {
		return nil, &Error{Pos: Pos{File: name, Line: 1, Col: 1}, Msg: msg}
	}
	if len(data) > MaxFileBytes {
		return whole(fmt.Sprintf("the file is larger than %d MiB; no scenario needs that much", MaxFileBytes>>20))
	}
	text, e := toUTF8(name, data)
	if e != nil {
		return nil, e
	}
	if e := checkShape(name, text); e != nil {
		return nil, e
	}
	file, err := parseYAML(text)
	if err != nil {
		return nil, syntaxError(name, text, err)
	}
	// go-yaml makes a document of a directive (%YAML 1.2) before "---";
	// YAML makes it part of the document that follows.
	for len(file.Docs) > 1 {
		if _, ok := file.Docs[0].Body.(*ast.DirectiveNode); !ok {
			break
		}
		file.Docs = file.Docs[1:]
	}
	if len(file.Docs) > 1 {
		d := file.Docs[1]
		p := Pos{File: name, Line: 1, Col: 1}
		if d.Start != nil && d.Start.Position != nil {
			p.Line, p.Col = d.Start.Position.Line, max(d.Start.Position.Column, 1)
		}
		return nil, &Error{Pos: p, Msg: "a scenario file holds one YAML document; this is a second"}
	}
	var body ast.Node
	if len(file.Docs) == 1 {
		body = file.Docs[0].Body
	}
	if body == nil {
		return whole("the file is empty: a scenario needs at least name: and steps:")
	}

	sum := sha256.Sum256(data)
	s := &Scenario{
		File: name,
		Hash: hex.EncodeToString(sum[:]),
		Machine: Machine{
			RAM:       DefaultRAMBytes,
			Pagefile:  DefaultPagefileBytes,
			CPUs:      1,
			NUMANodes: 1,
			Seed:      DefaultSeed,
		},
		Schedule: "round-robin",
		Raw:      append([]byte(nil), data...),
	}
	l := &loader{
		fsys:    fsys,
		file:    name,
		dir:     filepath.Dir(name),
		alias:   map[*ast.AliasNode]ast.Node{},
		binds:   map[string]int{},
		traces:  map[string]*traceResult{},
		keptOps: keptTraceOps,
		lists:   map[listKey]listResult{},
	}
	l.collectAnchors(body, map[string]ast.Node{}, nil, 0)
	l.top(body, s)
	if l.best != nil {
		return nil, l.best.err
	}
	if !l.listed {
		s.Drivers = l.declared
	}
	s.Names = slices.Sorted(maps.Keys(l.binds))
	if len(l.traceOrder) > 0 {
		s.Hash = inputsHash(data, l.traceOrder, l.traces)
	}
	return s, nil
}

// inputsHash is the SHA-256 of a scenario that replays traces: of its
// bytes, then of each trace's SHA-256 in the order the file first names
// them. So the hash a report and a results file show changes with a
// trace's bytes too, and merge refuses shards run on different ones; it
// does not change with the directory simkern was run from (the file's
// bytes name each trace as written).
func inputsHash(data []byte, order []string, traces map[string]*traceResult) string {
	h := sha256.New()
	h.Write(data)
	for _, p := range order {
		h.Write(traces[p].file.sum[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// trimBOM drops a UTF-8 byte order mark from the start of a file: some
// Windows editors write one, and YAML allows it there.
func trimBOM(b []byte) []byte { return bytes.TrimPrefix(b, []byte("\ufeff")) }

// parseYAML runs go-yaml's parser, turning a panic inside it into an
// error: a file that trips the library is still only a bad file.
func parseYAML(data []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("the YAML parser failed on this file: %v", r)
		}
	}()
	return parser.ParseBytes(data, 0)
}

// syntaxError turns a go-yaml error into an *Error at its token.
func syntaxError(name string, data []byte, err error) *Error {
	e := &Error{Pos: Pos{File: name, Line: 1, Col: 1}, Msg: err.Error()}
	var ye yaml.Error
	if errors.As(err, &ye) {
		e.Msg = ye.GetMessage()
		if tk := ye.GetToken(); tk != nil && tk.Position != nil && tk.Position.Line > 0 {
			e.Pos.Line, e.Pos.Col = tk.Position.Line, max(tk.Position.Column, 1)
		}
	}
	if m := duplicateKey.FindStringSubmatch(e.Msg); m != nil {
		key := fmt.Sprintf("the key %q", shortenText(m[1], maxKeyShown))
		if m[1] == "?" { // go-yaml names an explicit key by its marker
			key = "a key"
		}
		e.Msg = fmt.Sprintf("%s is given twice in one map; the first is at line %s, column %s", key, m[2], m[3])
		return e
	}
	if e.Msg == "undefined anchor value" { // YAML would anchor a null; go-yaml refuses
		e.Msg, e.Key = "the anchor at the end of the file has no value: give it one or remove it", keyPathAt(data, e.Pos.Line)
		return e
	}
	if strings.Contains(e.Msg, "\t") || strings.Contains(e.Msg, "tab") {
		if hint, ok := tabHint(data, e.Pos.Line); ok {
			e.Msg = hint
			return e
		}
	}
	e.Msg = "YAML: " + shortenText(e.Msg, maxYAMLMessage) // it may quote a token of any length
	if loneStar.MatchString(lineAt(data, e.Pos.Line)) {
		e.Msg += `; a * alone begins an alias in YAML: write "*" in quotes`
	}
	e.Key = keyPathAt(data, e.Pos.Line)
	// A bracket left open shows only lines later, where the parser gives
	// up: say which one, and name its key.
	if open, ok := openFlow(data, e.Pos.Line, e.Pos.Col); ok && open.Position.Line < e.Pos.Line {
		e.Msg += fmt.Sprintf(" (the %s at line %d, column %d is not closed)", open.Value, open.Position.Line, open.Position.Column)
		if e.Key == "" {
			e.Key = keyPathAt(data, open.Position.Line)
		}
	}
	return e
}

// lineAt returns the text of the line numbered line (from 1), or "".
func lineAt(data []byte, line int) string {
	lines := strings.SplitN(string(data), "\n", line+1)
	if line < 1 || line > len(lines) {
		return ""
	}
	return lines[line-1]
}

// loneStar finds a * with no alias name after it, which YAML cannot
// read: most likely verifier.drivers' "every driver" left unquoted.
var loneStar = regexp.MustCompile(`(^|[\s\[{,:])\*($|[\s\]},#])`)

// keyPathAt names, for a syntax error, the key whose line the parser
// stopped at, such as "steps[0].free": the parser that failed cannot say,
// so the path is worked out from the indentation of the lines down to
// that one. It is "" wherever indentation does not tell: that line holds
// no key, stands deeper than a key whose value is on its own line, or
// comes after a flow collection or a quote that may be open.
func keyPathAt(data []byte, line int) string {
	type keyLevel struct {
		indent int
		key    string // a key, or "" for a list
		items  int    // a list's items so far
		leaf   bool   // a key whose value is on its line
	}
	var stack []keyLevel
	skipAbove := -1 // deeper lines are text: a block scalar's, or a plain value going on
	lines := strings.SplitN(string(data), "\n", line+1)
	for i, text := range lines[:min(line, len(lines))] {
		text = strings.TrimSuffix(text, "\r")
		rest := strings.TrimLeft(text, " ")
		col, last := len(text)-len(rest), i+1 == line
		if rest == "" || rest[0] == '#' {
			continue
		}
		if skipAbove >= 0 && col > skipAbove {
			if last {
				return ""
			}
			continue
		}
		skipAbove = -1
		for rest != "" {
			for len(stack) > 0 && stack[len(stack)-1].indent > col {
				stack = stack[:len(stack)-1]
			}
			n := len(stack)
			if item, ok := strings.CutPrefix(rest, "-"); ok && (item == "" || item[0] == ' ') {
				switch {
				case n > 0 && stack[n-1].key == "" && stack[n-1].indent == col:
					stack[n-1].items++
				case n > 0 && stack[n-1].leaf && stack[n-1].indent == col:
					return "" // an item beside a key that has its value
				default:
					stack = append(stack, keyLevel{indent: col})
				}
				trimmed := strings.TrimLeft(item, " ")
				col += 1 + len(item) - len(trimmed)
				rest = trimmed
				continue
			}
			if n > 0 && stack[n-1].indent == col {
				stack = stack[:n-1] // a sibling key, or a list ended by a key at its indent
				continue
			}
			key, value, ok := strings.Cut(rest, ":")
			if !ok || key == "" || strings.ContainsAny(key, "{}[]\"'#,") || value != "" && value[0] != ' ' {
				if last || strings.ContainsAny(rest, "{[\"'") {
					return "" // no key, or maybe an open flow collection or quote
				}
				break // a plain value going on from the line before
			}
			l := keyLevel{indent: col, key: shortenText(key, maxKeyShown)}
			switch value = strings.TrimSpace(value); {
			case value == "" || value[0] == '#' || value[0] == '&' || value[0] == '!':
				// The value is on the lines below (an anchor or a tag may
				// stand before it).
			default:
				// Deeper lines go on with its value: a block scalar's
				// text (| or >), or a plain value's.
				l.leaf, skipAbove = true, col
				if !last && strings.Count(value, "{")+strings.Count(value, "[") != strings.Count(value, "}")+strings.Count(value, "]") {
					return "" // a flow collection goes on to the next lines
				}
			}
			stack = append(stack, l)
			break
		}
		if last {
			if len(stack) == 0 || stack[0].key == "" || stack[len(stack)-1].key == "" {
				return ""
			}
			var b strings.Builder
			for _, l := range stack {
				if l.key == "" {
					fmt.Fprintf(&b, "[%d]", l.items)
					continue
				}
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(l.key)
			}
			return b.String()
		}
	}
	return ""
}

// maxYAMLMessage bounds a message of go-yaml's, as simkern shows it.
const maxYAMLMessage = 240

// duplicateKey matches go-yaml's message for a key given twice.
var duplicateKey = regexp.MustCompile(`^mapping key "(.*)" already defined at \[(\d+):(\d+)\]`)

// tabHint explains go-yaml's complaint about a tab on a line, naming the
// key the tab stands before: YAML wants spaces there, and a tab is
// invisible in most editors.
func tabHint(data []byte, line int) (string, bool) {
	text := lineAt(data, line)
	tab := strings.IndexByte(text, '\t')
	if tab < 0 {
		return "", false
	}
	// Name what follows the tab: a key, a list item's key, a comment or
	// nothing.
	rest := strings.TrimLeft(text[tab:], " \t")
	key := func(s string) string {
		return shortenText(strings.TrimSpace(s[:strings.IndexAny(s+":", ":,{}[]#")]), maxKeyShown)
	}
	var what string
	switch item, isItem := strings.CutPrefix(rest, "- "); {
	case rest == "":
		what = "this line"
	case rest[0] == '#':
		what = "a comment"
	case isItem:
		what = fmt.Sprintf("the list item %q", key(item))
	default:
		what = fmt.Sprintf("%q", key(rest))
	}
	if strings.TrimLeft(text[:tab], " ") == "" {
		return "a tab indents " + what + "; YAML indents with spaces only", true
	}
	return "a tab stands before " + what + "; YAML wants spaces there, not tabs", true
}

// top reads the document's map, section by section, in the order their
// checks depend on: machine and drivers before the steps that name CPUs
// and drivers, steps before the faults that count them.
func (l *loader) top(n ast.Node, s *Scenario) {
	if _, ok := l.value(n).(*ast.SequenceNode); ok {
		l.errorf(n, "", "a scenario is a map (name:, steps:, ...), not a list")
		return
	}
	o, ok := l.object(n, "", topKeys)
	if !ok {
		return
	}
	if v := o.get("name"); v != nil {
		if name, ok := l.text(v, "name"); ok {
			if strings.TrimSpace(name) == "" {
				l.errorf(v, "name", "name is empty")
			}
			s.Name = name
		}
	} else {
		o.missing("name", "a short name for the scenario")
	}
	if v := o.get("description"); v != nil {
		s.Description, _ = l.text(v, "description")
	}
	if v := o.get("machine"); v != nil {
		l.machine(v, &s.Machine)
	} else {
		l.cpus, l.cpusOK = s.Machine.CPUs, true
		l.ram, l.ramOK = s.Machine.RAM, true
		l.pagefile = s.Machine.Pagefile
	}
	l.drivers = map[string]bool{}
	l.driversOK = true
	if v := o.get("drivers"); v != nil {
		s.Drivers, l.listed = l.driverList(v), true
	}
	if o.keyNode("verifier") != nil {
		s.Verifier = l.verifier(o.get("verifier"), o.keyNode("verifier"))
	}

	sv, tv := o.get("steps"), o.get("threads")
	before := l.nerrs
	var t tally
	var at ast.Node
	atKey := "steps"
	switch {
	case sv != nil && tv != nil:
		l.errorf(o.keyNode("threads"), "threads", "give steps: or threads:, not both")
	case sv != nil:
		s.Steps, t = l.stepList(sv, "steps", inherit{}, 0)
		at = o.keyNode("steps")
	case tv != nil:
		l.threads = true
		s.Threads, t = l.threadList(tv)
		at, atKey = o.keyNode("threads"), "threads"
	default:
		o.missing("steps", "the steps to run (or threads:)")
	}
	// A step that failed to load may be an alloc that binds a name, or
	// steps that bit_flip counts on; checks leaning on those would only
	// repeat the step's error in a more confusing form.
	stepsOK := l.nerrs == before
	switch {
	case l.overLimit: // a repeat said so already, and more precisely
	case t.steps > MaxSteps:
		l.errorf(at, atKey, "the scenario runs %s steps; the limit is %d", countText(t.steps), MaxSteps)
	case t.ops > MaxOps:
		l.errorf(at, atKey, "the scenario runs %s pool operations; the limit is %d", countText(t.ops), MaxOps)
	}

	if v := o.get("faults"); v != nil {
		counted := t.steps
		if !stepsOK {
			counted = 0 // unknown
		}
		s.Faults = l.faults(v, counted)
	}
	if v := o.get("schedule"); v != nil {
		if sched, ok := l.text(v, "schedule"); ok {
			switch {
			case sched != "round-robin" && sched != "random":
				l.errorf(v, "schedule", "unknown schedule %q: want round-robin or random", shortenText(sched, 40))
			case tv == nil:
				l.errorf(v, "schedule", "schedule: orders threads:, and this file has none")
			default:
				s.Schedule = sched
			}
		}
	}
	if v := o.get("expect"); v != nil {
		s.Expect = l.expect(v)
	}
	if stepsOK {
		l.checkNames()
	}
}

func (l *loader) machine(n ast.Node, m *Machine) {
	l.pagefile = m.Pagefile
	o, ok := l.object(n, "machine", []string{"ram", "pagefile", "cpus", "numa_nodes", "seed"})
	if !ok {
		return // cpusOK and ramOK stay false: checks against them are skipped
	}
	l.ramOK, l.cpusOK = true, true
	if v := o.get("ram"); v != nil {
		ram, ok := l.number(v, o.key("ram"), MaxRAMBytes, true)
		if ok && ram < MinRAMBytes {
			l.errorf(v, o.key("ram"), "%s is too small: at least 1 MiB", spellSize(ram))
			ok = false
		}
		if ok {
			m.RAM = ram
		}
		l.ramOK = ok
	}
	if v := o.get("pagefile"); v != nil {
		pf, ok := l.number(v, o.key("pagefile"), MaxPagefileBytes, true)
		if ok && pf > 0 && pf < MinPagefileBytes {
			l.errorf(v, o.key("pagefile"), "%s is too small: a pagefile needs at least 8 KiB (two 4 KiB slots, the first reserved), or 0 for none", spellSize(pf))
			ok = false
		}
		if ok {
			m.Pagefile = pf
		}
	}
	if v := o.get("cpus"); v != nil {
		c, ok := l.number(v, o.key("cpus"), MaxCPUs, false)
		if ok && c == 0 {
			l.errorf(v, o.key("cpus"), "a machine needs at least 1 CPU")
			ok = false
		}
		if ok {
			m.CPUs = int(c)
		}
		l.cpusOK = ok
	}
	if v := o.get("numa_nodes"); v != nil {
		nodes, ok := l.number(v, o.key("numa_nodes"), MaxCPUs, false)
		switch {
		case !ok:
		case nodes == 0:
			l.errorf(v, o.key("numa_nodes"), "a machine needs at least 1 NUMA node")
		case l.cpusOK && nodes > uint64(m.CPUs):
			l.errorf(v, o.key("numa_nodes"), "%d nodes for %d CPUs: every node needs a CPU", nodes, m.CPUs)
		case l.ramOK && m.RAM/pageBytes < nodes*MinNodeRAMBytes/pageBytes:
			l.errorf(v, o.key("numa_nodes"), "%d nodes need at least %s of RAM (12 KiB a node), and machine.ram is %s",
				nodes, spellSize(nodes*MinNodeRAMBytes), spellSize(m.RAM))
		default:
			m.NUMANodes = int(nodes)
		}
	}
	if v := o.get("seed"); v != nil {
		if seed, ok := l.number(v, o.key("seed"), math.MaxUint64, false); ok {
			m.Seed, m.SeedSet = seed, true
		}
	}
	l.cpus, l.ram, l.pagefile = m.CPUs, m.RAM, m.Pagefile
}

// names reads a list of non-empty names (or one name alone), refusing
// repeats.
func (l *loader) names(n ast.Node, key string) ([]string, bool) {
	items := []ast.Node{n}
	switch l.value(n).(type) {
	case *ast.SequenceNode:
		items, _ = l.list(n, key)
	case *ast.MappingNode, *ast.MappingValueNode:
		l.errorf(n, key, "want a name or a list of names, got %s", describeNode(l.value(n)))
		return nil, false
	}
	before := l.nerrs
	var out []string
	seen := map[string]bool{} // not slices.Contains: a long list would cost its square
	for i, it := range items {
		k := keyIndex(key, i)
		s, ok := l.text(it, k)
		if !ok {
			continue
		}
		switch {
		case strings.TrimSpace(s) == "":
			l.errorf(it, k, "the name is empty")
			continue
		case l.longName(it, k, s):
			continue
		case seen[s]:
			l.errorf(it, k, "%q is listed twice", s)
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return out, l.nerrs == before
}

func (l *loader) driverList(n ast.Node) []string {
	list, ok := l.names(n, "drivers")
	for _, d := range list {
		l.drivers[d] = true
		if d == "*" {
			l.errorf(n, "drivers", "\"*\" is not a driver name; verifier.drivers uses it to mean every driver")
			ok = false
		}
	}
	l.driversOK = ok
	return list
}

func (l *loader) verifier(n ast.Node, keyNode ast.Node) *Verifier {
	v := &Verifier{SpecialPool: "off", Pos: l.pos(keyNode)}
	if n == nil {
		l.errorf(keyNode, "verifier.drivers", "drivers is required: list the drivers to verify, or \"*\" for all")
		return v
	}
	o, ok := l.object(n, "verifier", []string{"drivers", "special_pool", "pool_tracking", "irql_checking", "low_resources"})
	if !ok {
		return v
	}
	if dv := o.get("drivers"); dv != nil {
		list, _ := l.names(dv, o.key("drivers"))
		if slices.Contains(list, "*") {
			if len(list) > 1 {
				l.errorf(dv, o.key("drivers"), "\"*\" means every driver; list no others with it")
			}
			list = []string{"*"}
		} else {
			for _, d := range list {
				if !l.knownDriver(dv, o.key("drivers"), d) {
					break
				}
			}
		}
		v.Drivers = list
	} else {
		o.missing("drivers", "list the drivers to verify, or \"*\" for all")
	}
	if sv := o.get("special_pool"); sv != nil {
		if sp, ok := l.text(sv, o.key("special_pool")); ok {
			sp = strings.ToLower(strings.TrimSpace(sp))
			if sp != "off" && sp != "overrun" && sp != "underrun" {
				l.errorf(sv, o.key("special_pool"), "unknown special_pool %q: want off, overrun or underrun", shortenText(sp, 40))
			} else {
				v.SpecialPool = sp
			}
		}
	}
	if bv := o.get("pool_tracking"); bv != nil {
		v.PoolTracking, _ = l.boolean(bv, o.key("pool_tracking"))
	}
	if bv := o.get("irql_checking"); bv != nil {
		v.IRQLChecking, _ = l.boolean(bv, o.key("irql_checking"))
	}
	if kn := o.keyNode("low_resources"); kn != nil {
		v.LowResources = l.lowResources(o.get("low_resources"), o.key("low_resources"))
	}
	return v
}

// lowResources reads low_resources: a map, or nothing or true for the
// defaults, or false for none.
func (l *loader) lowResources(n ast.Node, key string) *verifier.LowResources {
	lr := &verifier.LowResources{Probability: DefaultProbability}
	if n == nil {
		return lr
	}
	if b, ok := l.value(n).(*ast.BoolNode); ok {
		if !b.Value {
			return nil
		}
		return lr
	}
	o, ok := l.object(n, key, []string{"probability", "after", "tags", "systematic"})
	if !ok {
		return lr
	}
	if v := o.get("probability"); v != nil {
		lr.Probability, _ = l.fraction(v, o.key("probability"))
	}
	if v := o.get("after"); v != nil {
		lr.After, _ = l.number(v, o.key("after"), math.MaxUint64, false)
	}
	if v := o.get("tags"); v != nil {
		items := []ast.Node{v}
		if _, ok := l.value(v).(*ast.SequenceNode); ok {
			items, _ = l.list(v, o.key("tags"))
		}
		for i, it := range items {
			if t, ok := l.tag(it, keyIndex(o.key("tags"), i)); ok {
				lr.Tags = append(lr.Tags, t)
			}
		}
	}
	if v := o.get("systematic"); v != nil {
		lr.Systematic, _ = l.boolean(v, o.key("systematic"))
	}
	return lr
}

var faultKinds = []string{"pagefile_read_error", "pagefile_write_error", "bit_flip"}

// faults reads the fault list; steps is how many steps the run executes,
// for bit_flip's step:, or 0 if that is not known.
func (l *loader) faults(n ast.Node, steps uint64) []Fault {
	items, ok := l.list(n, "faults")
	if !ok {
		return nil
	}
	var out []Fault
	for i, it := range items {
		path := keyIndex("faults", i)
		o, ok := l.object(it, path, faultKinds)
		if !ok {
			continue
		}
		var kind *mapEntry
		for j, e := range o.ents {
			if !slices.Contains(faultKinds, e.key) {
				continue
			}
			if kind != nil {
				l.errorf(e.kn, keyJoin(path, e.key), "a fault has one kind, and this one also has %q; give each its own list item", kind.key)
				continue
			}
			kind = &o.ents[j]
		}
		if kind == nil {
			if o.unknown {
				continue
			}
			l.errorf(it, path, "the fault has no kind: want one of %s", strings.Join(faultKinds, ", "))
			continue
		}
		f := Fault{Kind: kind.key, Pos: l.pos(kind.kn)}
		kpath := keyJoin(path, kind.key)
		if kind.key == "bit_flip" {
			l.bitFlip(&f, kind.val, kpath, steps)
		} else {
			l.pagefileFault(&f, kind.val, kind.kn, kpath)
		}
		out = append(out, f)
	}
	return out
}

func (l *loader) pagefileFault(f *Fault, n, keyNode ast.Node, path string) {
	f.Status = DefaultFaultStatus
	if l.pagefile == 0 {
		l.errorf(keyNode, path, "the machine has no pagefile (machine.pagefile: 0), so no pagefile I/O can fail")
	}
	if l.isNull(n) {
		l.errorf(keyNode, path, "say which I/O fails: {nth: 1} or {probability: 0.1}")
		return
	}
	o, ok := l.object(n, path, []string{"nth", "probability", "status"})
	if !ok {
		return
	}
	nv, pv := o.get("nth"), o.get("probability")
	switch {
	case nv != nil && pv != nil:
		l.errorf(o.keyNode("probability"), o.key("probability"), "give nth or probability, not both")
	case nv != nil:
		if nth, ok := l.number(nv, o.key("nth"), saturated, false); ok {
			if nth == 0 {
				l.errorf(nv, o.key("nth"), "nth counts from 1")
			}
			f.Nth = nth
		}
	case pv != nil:
		f.Probability, _ = l.fraction(pv, o.key("probability"))
	case !o.unknown:
		l.errorf(o.node, path, "say which I/O fails: nth: N (the Nth one) or probability: P (each one)")
	}
	if sv := o.get("status"); sv != nil {
		if st, ok := l.number(sv, o.key("status"), math.MaxUint32, false); ok {
			if st == 0 {
				l.errorf(sv, o.key("status"), "status 0 is STATUS_SUCCESS; a failed I/O needs an error status such as 0xC000009C")
			}
			f.Status = uint32(st)
		}
	}
}

func (l *loader) bitFlip(f *Fault, n ast.Node, path string, steps uint64) {
	o, ok := l.object(n, path, []string{"step", "frame", "bit"})
	if !ok {
		return
	}
	if v := o.get("step"); v != nil {
		if st, ok := l.number(v, o.key("step"), MaxSteps, false); ok {
			switch {
			case st == 0:
				l.errorf(v, o.key("step"), "step counts from 1: the flip happens before that step runs")
			case steps > 0 && st > steps:
				l.errorf(v, o.key("step"), "step %d never runs: the scenario runs only %d", st, steps)
			}
			f.Step = int(st)
		}
	} else {
		o.missing("step", "the step (counting from 1) before which the bit flips")
	}
	if v := o.get("frame"); v != nil {
		limit := uint64(MaxRAMBytes / pageBytes)
		if l.ramOK {
			limit = l.ram / pageBytes
		}
		if fr, ok := l.number(v, o.key("frame"), math.MaxUint64, false); ok {
			if fr >= limit {
				l.errorf(v, o.key("frame"), "frame %#x does not exist: the machine has %d frames (machine.ram / 4 KiB)", fr, limit)
			}
			f.Frame = &fr
		}
	}
	if v := o.get("bit"); v != nil {
		if b, ok := l.number(v, o.key("bit"), 63, false); ok {
			bit := uint8(b)
			f.Bit = &bit
		}
	}
}

func (l *loader) threadList(n ast.Node) ([]Thread, tally) {
	items, ok := l.list(n, "threads")
	if !ok {
		return nil, tally{}
	}
	if len(items) == 0 {
		l.errorf(n, "threads", "needs at least one thread")
		return nil, tally{}
	}
	var out []Thread
	var t tally
	named := map[string]bool{}
	for i, it := range items {
		path := keyIndex("threads", i)
		o, ok := l.object(it, path, []string{"name", "cpu", "steps"})
		if !ok {
			continue
		}
		th := Thread{Name: fmt.Sprintf("t%d", i+1), Pos: l.pos(it)}
		v := o.get("name")
		if v != nil {
			if s, ok := l.text(v, o.key("name")); ok && !l.longName(v, o.key("name"), s) {
				th.Name = s
			}
		}
		switch {
		case !named[th.Name]:
		case v == nil:
			l.errorf(it, path, "its name by position, %q, is another thread's: give it a name", th.Name)
		default:
			l.errorf(v, o.key("name"), "two threads are named %q", th.Name)
		}
		named[th.Name] = true
		if v := o.get("cpu"); v != nil {
			th.CPU, _ = l.cpuIndex(v, o.key("cpu"))
		}
		if v := o.get("steps"); v != nil {
			var u tally
			th.Steps, u = l.stepList(v, o.key("steps"), inherit{cpu: th.CPU, thread: th.Name}, 0)
			t = t.add(u)
		} else {
			o.missing("steps", "the thread's steps")
		}
		out = append(out, th)
	}
	return out, t
}

func (l *loader) expect(n ast.Node) *Expect {
	o, ok := l.object(n, "expect", []string{"bugcheck"})
	if !ok {
		return nil
	}
	v := o.get("bugcheck")
	if v == nil {
		return nil // nothing expected beyond the default: no bugcheck
	}
	e := &Expect{}
	key := o.key("bugcheck")
	if s, ok := l.value(v).(*ast.StringNode); ok {
		if s.Value != "none" {
			l.errorf(v, key, "want none or a map such as {code: 0xD1, p1: buf}, got %s", describeNode(s))
			return e
		}
		return nil // the default, stated
	}
	bo, ok := l.object(v, key, []string{"code", "p1", "p2", "p3", "p4"})
	if !ok {
		return e
	}
	bc := &ExpectBugcheck{}
	if cv := bo.get("code"); cv != nil {
		if code, ok := l.number(cv, bo.key("code"), math.MaxUint32, false); ok {
			if code == 0 {
				l.errorf(cv, bo.key("code"), "0 is not a bugcheck code")
			}
			bc.Code = uint32(code)
		}
	} else {
		bo.missing("code", "the bugcheck code, such as 0xD1")
	}
	for i := range bc.P {
		k := fmt.Sprintf("p%d", i+1)
		if pv := bo.get(k); pv != nil {
			bc.P[i] = l.expectValue(pv, bo.key(k))
		}
	}
	e.Bugcheck = bc
	return e
}

// expectValue reads a bugcheck parameter: a number (a negative one as
// two's complement, as ULONG_PTR holds it) or a bound name plus offset.
func (l *loader) expectValue(n ast.Node, key string) *Addr {
	if iv, ok := l.value(n).(*ast.IntegerNode); ok {
		switch x := intValue(iv).(type) {
		case int64:
			return &Addr{Literal: uint64(x), IsLiteral: true}
		case uint64:
			return &Addr{Literal: x, IsLiteral: true}
		}
	}
	s, ok := l.text(n, key)
	if !ok {
		return nil
	}
	if digits, neg := strings.CutPrefix(strings.TrimSpace(s), "-"); neg && digits != "" && digits[0] >= '0' && digits[0] <= '9' {
		// A negative number as text, or one too large for YAML's int64.
		v, err := parseUint(digits)
		switch {
		case err != nil:
			l.errorf(n, key, "%q is not a number: %v", shortenText(s, 40), err)
			return nil
		case v > 1<<63:
			l.errorf(n, key, "%s does not fit in 64 bits: at least -9223372036854775808", shortenText(s, 40))
			return nil
		}
		return &Addr{Literal: -v, IsLiteral: true}
	}
	a, err := parseAddr(s)
	if err != nil {
		l.errorf(n, key, "%v", err)
		return nil
	}
	if !a.IsLiteral {
		l.need(a.Name, n, key, true)
	}
	return &a
}

// checkNames reports each use of a name that no alloc binds in time: in
// steps:, an earlier step (program order, repeats included); in threads:
// and expect:, any step at all.
func (l *loader) checkNames() {
	var bound []string
	for _, u := range l.uses {
		first, ok := l.binds[u.name]
		if ok && (l.threads || u.anywhere || first < u.seq) {
			continue
		}
		if !l.wants(u.pos) {
			continue
		}
		if ok {
			l.errAt(u.pos, u.key, "%q is used before any alloc binds it (as: %s comes later)", u.name, u.name)
			continue
		}
		if bound == nil {
			for b := range l.binds {
				bound = append(bound, b)
			}
			sort.Strings(bound)
		}
		msg := fmt.Sprintf("%q is not bound: no alloc has as: %s", u.name, u.name)
		if m := suggest(u.name, bound); m != "" {
			msg += fmt.Sprintf("; did you mean %q?", m)
		}
		l.errAt(u.pos, u.key, "%s", msg)
	}
}
