package scenario

import (
	"bytes"
	"strings"
	"testing"

	"simkern/kd"
)

// A name the scenario binds means its address to the debugger, before
// its step has run too: then it is an error, never the hex number it is
// spelled like. So in a live run and in a dump of a run that halted before
// binding it. A word no step binds is still a number, or an error.
func TestDebuggerNamesBeforeTheyAreBound(t *testing.T) {
	s := loadInline(t, "names.yaml", `name: names
machine: {ram: 16MiB}
steps:
  - kd: "!pte a"
  - kd: "!pte buf"
  - kd: "!pte 0xa"
  - kd: "!pte c"
  - alloc: {as: a, pool: NonPagedPool, size: 64, tag: Nams}
  - kd: "!pte a"
  - free: a
  - free: a
  - alloc: {as: buf, pool: NonPagedPool, size: 64, tag: Nams}
`)
	sess, o, out := runInline(t, s, Options{})
	if o.Bugcheck == nil {
		t.Fatalf("the double free did not halt the machine\n%s", out)
	}
	before, after, _ := strings.Cut(out, "alloc: {as: a")
	outputHas(t, before, // the output before the alloc
		"kd> !pte a\na is not bound: the step that binds it has not completed (0xa is the number)\n",
		"kd> !pte buf\nbuf is not bound: the step that binds it has not completed\n",
		"kd> !pte 0xa\n"+strings.Repeat(" ", 43)+"VA 000000000000000a\n",
		"kd> !pte c\n"+strings.Repeat(" ", 43)+"VA 000000000000000c\n",
	)
	if strings.Contains(after, "is not bound") {
		t.Errorf("after the alloc, a is still not bound\n%s", after)
	}

	var file bytes.Buffer
	if err := kd.WriteDump(&file, sess.Dump()); err != nil {
		t.Fatal(err)
	}
	_, target, err := kd.ReadDump(&file)
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	target.Run(&got, "!pte buf")
	if want := "buf is not bound: the step that binds it has not completed\n"; got.String() != want {
		t.Errorf("in the dump, !pte buf printed %q, want %q", got.String(), want)
	}
}
