package kd

// Tests of the crash dump format (dump.go): a dump written, read back and
// opened answers every command exactly as the live machine did, and a
// damaged file is an error, never a panic. docs/dumps.md describes the
// format these tests hold it to.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"simkern/bugcheck"
	"simkern/mm"
	"simkern/pagefile"
	"simkern/pool"
)

// dumpOf captures a machine and its pool as `simkern run --dump` would.
func dumpOf(m *mm.Machine, p *pool.Pool, names map[string]uint64) *Dump {
	return &Dump{
		Simkern: "test", ScenarioFile: "fixture.yaml", Scenario: []byte("name: fixture\n"), Seed: 7, Steps: 6,
		Names: Bindings(names), Bugcheck: m.Halted(), Machine: m.Snapshot(), Pool: p.Snapshot(),
	}
}

// encode writes d as a dump file.
func encode(tb testing.TB, d *Dump) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := WriteDump(&b, d); err != nil {
		tb.Fatalf("WriteDump: %v", err)
	}
	return b.Bytes()
}

// open reads a dump file, closing its machine at the end of the test.
func open(tb testing.TB, file []byte) (*Dump, *Target) {
	tb.Helper()
	d, t, err := ReadDump(bytes.NewReader(file))
	if err != nil {
		tb.Fatalf("ReadDump of a dump WriteDump just wrote: %v", err)
	}
	tb.Cleanup(func() { t.Machine.Close() })
	return d, t
}

// runOn runs one command line on a target and returns what it printed.
func runOn(t *Target, line string) string {
	var b strings.Builder
	t.Run(&b, line)
	return b.String()
}

// sameOnDump are the commands a dump must answer byte for byte as the
// live machine does. The fixture's names: irp, tour, mystery (nonpaged
// blocks), file (freed, on a lookaside list), paged (a paged block), big
// (a large paged allocation).
var sameOnDump = []string{
	"!pool irp", "!pool irp 2", "!pool irp 1", "!pool file 2", "!pool paged", "!pool paged 2", "!pool paged 3", "!pool big",
	"!poolused", "!poolused 1", "!poolused 2", "!poolused 4", "!poolused 0 T*",
	"!poolfind Tour", "!poolfind Tour 1", "!poolfind BigP 1", "!poolfind File",
	"!poolval irp", "!poolval paged", "!poolval paged 2",
	"!pte irp", "!pte paged", "!pte big", "!pte big+2000", "!pte 0xfffff8a000100000",
	"!vm", "!irql", "!irql 1", "!lookaside",
	"dt _POOL_HEADER", "dt _POOL_HEADER irp-10", "dt _POOL_HEADER paged-10",
	"dq irp-10", "dq paged-10 L8", "dd irp L10", "db irp L40", "db big L20",
	"!analyze -v",
}

// TestDumpAnswersAsTheLiveMachineDid writes a dump of the fixture in
// several states, reads it back and runs every command on both.
func TestDumpAnswersAsTheLiveMachineDid(t *testing.T) {
	tests := []struct {
		name string

		// setup changes the fixture before the dump is taken.
		setup func(t *testing.T, f *fixture)

		// live lists strings the live output of a command must hold, so
		// the state the row is about is really there to compare.
		live map[string]string
	}{
		{
			name: "a running machine with blocks in both pools and one on a lookaside list",
			live: map[string]string{"!pool file 2": "(Free )", "!pte paged": "pfn"},
		},
		{
			name:  "every pageable page written to the pagefile and evicted",
			setup: func(t *testing.T, f *fixture) { f.m.PageOutAll() },
			live: map[string]string{
				"!pool paged": "could not be read", "!pte paged": "PageFile:", "dq paged-10 L8": "????????`????????",
			},
		},
		{
			name: "the paged block trimmed but still in memory (a transition PTE)",
			setup: func(t *testing.T, f *fixture) {
				if n := f.m.Trim(mm.VA(f.names["paged"]), 1); n != 1 {
					t.Fatalf("Trim trimmed %d pages, want 1", n)
				}
			},
			live: map[string]string{"!pte paged": "Transition:"},
		},
		{
			name: "halted by a double free of irp",
			setup: func(t *testing.T, f *fixture) {
				c := f.m.CPUs.CPUs[1]
				if err := f.p.Free(c, mm.VA(f.names["irp"])); err != nil {
					t.Fatal(err)
				}
				var b *bugcheck.Error
				if err := f.p.Free(c, mm.VA(f.names["irp"])); !errors.As(err, &b) || b.Code != bugcheck.BadPoolCaller {
					t.Fatalf("second free: %v, want a 0xC2 bugcheck", err)
				}
			},
			live: map[string]string{"!analyze -v": "BAD_POOL_CALLER (c2)", "!lookaside": "NonPaged"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.setup != nil {
				tc.setup(t, f)
			}
			file := encode(t, dumpOf(f.m, f.p, f.names))
			_, dt := open(t, file)
			for _, cmd := range sameOnDump {
				live, dumped := f.run(t, cmd), runOn(dt, cmd)
				if live != dumped {
					t.Errorf("%s: the dump answers differently from the live machine\n--- live\n%s--- dump\n%s", cmd, live, dumped)
				}
				if want, ok := tc.live[cmd]; ok && !strings.Contains(live, want) {
					t.Errorf("%s: live output lacks %q, so the row does not test what it says:\n%s", cmd, want, live)
				}
			}
			// Every frame ever handed out, and one past them.
			for pfn := uint64(0); pfn <= f.m.Stats().Frames && pfn < 0x40; pfn++ {
				cmd := fmt.Sprintf("!pfn %x", pfn)
				if live, dumped := f.run(t, cmd), runOn(dt, cmd); live != dumped {
					t.Errorf("%s: live\n%s\ndump\n%s", cmd, live, dumped)
				}
			}
		})
	}
}

// A dump keeps its record (who wrote it, the scenario, the names, the
// bugcheck and its analysis), ReadDump returns the record without the
// snapshots, and !analyze -v prints the analysis the run printed rather
// than the bare one.
func TestDumpKeepsItsRecord(t *testing.T) {
	f := newFixture(t)
	c := f.m.CPUs.CPUs[0]
	f.p.Free(c, mm.VA(f.names["irp"]))
	if err := f.p.Free(c, mm.VA(f.names["irp"])); err == nil {
		t.Fatal("a double free did not bugcheck")
	}
	d := dumpOf(f.m, f.p, f.names)
	d.Analysis = "the runner's analysis, with the scenario line\n"
	got, dt := open(t, encode(t, d))

	if got.Simkern != d.Simkern || got.ScenarioFile != d.ScenarioFile || string(got.Scenario) != string(d.Scenario) ||
		got.Seed != d.Seed || got.Steps != d.Steps || got.Analysis != d.Analysis {
		t.Errorf("record changed on the way through the file:\nwrote %s %s %q seed %d steps %d\nread  %s %s %q seed %d steps %d",
			d.Simkern, d.ScenarioFile, d.Scenario, d.Seed, d.Steps, got.Simkern, got.ScenarioFile, got.Scenario, got.Seed, got.Steps)
	}
	if got.Machine != nil || got.Pool != nil || got.Verifier != nil {
		t.Error("ReadDump's Dump keeps snapshots the Target already holds, and their memory with them")
	}
	if got.Bugcheck == nil || got.Bugcheck.Code != d.Bugcheck.Code || got.Bugcheck.P != d.Bugcheck.P {
		t.Errorf("bugcheck %v, wrote %v", got.Bugcheck, d.Bugcheck)
	}
	if len(got.Names) != len(f.names) {
		t.Errorf("names %v, wrote %v", got.Names, f.names)
	}
	for name, va := range f.names {
		if v, err := dt.Evaluate(name); err != nil || v != va {
			t.Errorf("on the dump %s evaluates to %#x, %v; the live machine had %#x", name, v, err, va)
		}
	}
	if out := runOn(dt, "!analyze -v"); out != d.Analysis {
		t.Errorf("!analyze -v on the dump printed\n%s\nwant the analysis it holds:\n%s", out, d.Analysis)
	}
}

// Reading a dump's machine changes nothing: the same command twice gives
// the same answer, and the counters stay put.
func TestDumpCommandsChangeNothing(t *testing.T) {
	f := newFixture(t)
	f.m.PageOutAll()
	_, dt := open(t, encode(t, dumpOf(f.m, f.p, f.names)))
	before := dt.Machine.Stats()
	first := make([]string, len(sameOnDump))
	for i, cmd := range sameOnDump {
		first[i] = runOn(dt, cmd)
	}
	for i, cmd := range sameOnDump {
		if again := runOn(dt, cmd); again != first[i] {
			t.Errorf("%s answers differently the second time:\n%s\nthen\n%s", cmd, first[i], again)
		}
	}
	if after := dt.Machine.Stats(); after != before {
		t.Errorf("commands changed the dump's machine:\nbefore %+v\nafter  %+v", before, after)
	}
}

// gzipOf wraps a body as a dump file with the given version.
func gzipOf(tb testing.TB, version uint32, body []byte) []byte {
	tb.Helper()
	var b bytes.Buffer
	b.WriteString("SIMKDUMP")
	b.Write([]byte{byte(version), byte(version >> 8), byte(version >> 16), byte(version >> 24)})
	zw := gzip.NewWriter(&b)
	zw.Write(body)
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// gobOf encodes v as the gob a dump's body starts with.
func gobOf(tb testing.TB, v any) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(v); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// record is a record after a dump's Dump as a test changes it: a frame
// record, or a slot record's slot and owner, then the page that follows
// it (none for a frame record whose flags say it has no bytes).
type record struct {
	head []byte
	page []byte
}

// frameRecordOf is frame f's record with flags, as a test makes one up.
func frameRecordOf(f mm.PFN, flags byte) []byte {
	var rec [frameRecordBytes]byte
	putFrameRecord(&rec, mm.FrameSnapshot{PFN: f, State: mm.StateActive}, false)
	rec[frameRecordBytes-1] = flags
	return rec[:]
}

// number reads the PFN or slot a record starts with.
func (r record) number() uint64 { return binary.LittleEndian.Uint64(r.head) }

// recordsOf splits a dump file into its Dump, its frame records and its
// slot records, for a test to change and put back together with
// streamOf.
func recordsOf(tb testing.TB, file []byte) (d *Dump, frames, slots []record) {
	tb.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(file[12:]))
	if err != nil {
		tb.Fatal(err)
	}
	zb := bufio.NewReader(zr)
	d = new(Dump)
	if err := gob.NewDecoder(zb).Decode(d); err != nil {
		tb.Fatal(err)
	}
	read := func(n int) []byte {
		b := make([]byte, n)
		if _, err := io.ReadFull(zb, b); err != nil {
			tb.Fatal(err)
		}
		return b
	}
	for range d.Machine.HandedOut() {
		r := record{head: read(frameRecordBytes)}
		if r.head[frameRecordBytes-1]&frameHasBytes != 0 {
			r.page = read(mm.PageBytes)
		}
		frames = append(frames, r)
	}
	for {
		if _, err := zb.Peek(1); err == io.EOF {
			return d, frames, slots
		}
		slots = append(slots, record{head: read(slotHeadBytes), page: read(pagefile.SlotBytes)})
	}
}

// streamOf is a dump file of this version holding header, then records.
func streamOf(tb testing.TB, header any, records ...[]record) []byte {
	tb.Helper()
	b := bytes.NewBuffer(gobOf(tb, header))
	for _, list := range records {
		for _, r := range list {
			b.Write(r.head)
			b.Write(r.page)
		}
	}
	return gzipOf(tb, DumpVersion, b.Bytes())
}

// smallDump is a real dump of a small machine: a few blocks in both
// pools, one page in the pagefile. It seeds the fuzzer too, so it takes a
// testing.TB.
func smallDump(tb testing.TB) []byte {
	tb.Helper()
	m, p := newMachine(tb, 1, mm.Config{RAMBytes: mm.MinRAMBytes, PagefileBytes: 1 << 20})
	names := map[string]uint64{}
	for i, ty := range []pool.Type{pool.NonPagedPool, pool.PagedPool, pool.NonPagedPool} {
		va, err := p.Allocate(m.CPUs.CPUs[0], ty, uint64(40+100*i), pool.TagOf("Fuzz"))
		if err != nil {
			tb.Fatal(err)
		}
		names[fmt.Sprintf("b%d", i)] = uint64(va)
	}
	m.PageOutAll()
	return encode(tb, dumpOf(m, p, names))
}

// allocated returns the bytes the Go heap handed out while fn ran.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A dump goes between the file and the machine a page at a time: writing
// one allocates a small part of the memory it holds (gzip's state, the
// bookkeeping), and reading one little more than the frames it restores.
func TestDumpsHoldNoSecondCopyOfMemory(t *testing.T) {
	const pages = 4096
	m, p := newMachine(t, 1, mm.Config{RAMBytes: 4 * pages * mm.PageBytes})
	cs := m.CPUs
	va := m.AllocatePages(mm.RegionNonPagedPool, pages, 0, false)
	if va == 0 {
		t.Fatalf("no room for %d pages", pages)
	}
	for i := range uint64(pages) {
		if err := m.WriteU64(cs.CPUs[0], va+mm.VA(i*mm.PageBytes), i); err != nil {
			t.Fatal(err)
		}
	}
	const held = pages * mm.PageBytes

	var file bytes.Buffer
	file.Grow(2 * held) // the file is the test's, not WriteDump's
	if got := allocated(func() {
		if err := WriteDump(&file, dumpOf(m, p, nil)); err != nil {
			t.Fatal(err)
		}
	}); got > held/4 {
		t.Errorf("writing a dump of %d KiB of pages allocated %d KiB; want at most a quarter of it", held>>10, got>>10)
	}
	var dt *Target
	if got := allocated(func() { _, dt = open(t, file.Bytes()) }); got > held+held/8 {
		t.Errorf("reading a dump of %d KiB of pages allocated %d KiB; want the pages and at most an eighth more", held>>10, got>>10)
	}
	if v, err := dt.Machine.ReadU64(dt.Machine.CPUs.CPUs[0], va+(pages-1)*mm.PageBytes); err != nil || v != pages-1 {
		t.Errorf("the restored machine's last page reads %d, %v; want %d", v, err, pages-1)
	}
}

// Nor does a dump hold a second copy of the PFN database: the entries go
// between the machine and the file one at a time too. A machine that has
// handed out many frames and written to none (a large nonpaged
// allocation) costs its PFN entries; writing its dump allocates a small
// part of them (gzip's state, the bookkeeping), and reading it little
// more than the restored machine holds.
func TestDumpsHoldNoCopyOfThePFNDatabase(t *testing.T) {
	const frames = 1 << 19 // 2 GiB
	m, p := newMachine(t, 1, mm.Config{RAMBytes: 2 * frames * mm.PageBytes})
	var va mm.VA
	held := allocated(func() { va = m.AllocatePages(mm.RegionNonPagedPool, frames, 0, false) })
	if va == 0 {
		t.Fatalf("no room for %d pages", frames)
	}
	if n := m.Snapshot().HandedOut(); n < frames {
		t.Fatalf("%d frames handed out, want at least %d", n, frames)
	}
	// What the entries alone would cost, the way a dump once held them: a
	// slice of entries, and gob's buffer of them.
	const entryBytes = uint64(unsafe.Sizeof(mm.FrameSnapshot{}))
	var file bytes.Buffer
	file.Grow(16 << 20) // the file is the test's, not WriteDump's
	wrote := allocated(func() {
		if err := WriteDump(&file, dumpOf(m, p, nil)); err != nil {
			t.Fatal(err)
		}
	})
	if wrote > frames*entryBytes/8 {
		t.Errorf("writing a dump of %d frames handed out allocated %d KiB; want at most an eighth of %d KiB, their entries as %d-byte records",
			frames, wrote>>10, frames*entryBytes>>10, entryBytes)
	}
	var dt *Target
	read := allocated(func() { _, dt = open(t, file.Bytes()) })
	if read > held+held/4 {
		t.Errorf("reading a dump of %d frames handed out allocated %d KiB; handing them out allocated %d KiB: want at most a quarter more",
			frames, read>>10, held>>10)
	}
	t.Logf("handing out %d frames allocated %d KiB; writing their dump %d KiB (a %d KiB file), reading it %d KiB",
		frames, held>>10, wrote>>10, file.Len()>>10, read>>10)
	for _, cmd := range []string{"!vm", fmt.Sprintf("!pte %x", va+(frames-1)*mm.PageBytes), fmt.Sprintf("!pfn %x", m.Frames()/2)} {
		if got, want := runOn(dt, cmd), runOn(&Target{Machine: m, Pool: p}, cmd); got != want {
			t.Errorf("%s on the dump:\n%s\non the live machine:\n%s", cmd, got, want)
		}
	}
}

// TestDamagedDumps: every damaged file is refused with an error that says
// what is wrong, and none panics.
func TestDamagedDumps(t *testing.T) {
	good := smallDump(t)
	valid := func(b []byte) []byte { return append([]byte(nil), b...) }
	withVersion := func(v byte, at int) []byte { b := valid(good); b[at] = v; return b }
	goodDump, goodFrames, goodSlots := recordsOf(t, good)
	if remade := streamOf(t, goodDump, goodFrames, goodSlots); !bytes.Equal(remade, good) {
		t.Fatal("recordsOf and streamOf do not put a dump back together as it was")
	}
	// paged is the first frame with bytes after the first two: the rows
	// below damage the first two frames, paged's page, and a slot.
	paged := slices.IndexFunc(goodFrames[2:], func(r record) bool { return r.page != nil }) + 2
	if len(goodFrames) < 3 || paged < 2 || len(goodSlots) < 1 {
		t.Fatalf("the small dump has %d frame records and %d slot records; the rows below want three frames, one of them past the first two with bytes, and a slot",
			len(goodFrames), len(goodSlots))
	}
	// withFrames and withSlots are the small dump with its frame or slot
	// records changed by change.
	withFrames := func(change func(r []record) []record) []byte {
		return streamOf(t, goodDump, change(slices.Clone(goodFrames)), goodSlots)
	}
	withSlots := func(change func(r []record) []record) []byte {
		return streamOf(t, goodDump, goodFrames, change(slices.Clone(goodSlots)))
	}
	// unlisted is a frame the Dump announces no record for.
	unlisted := mm.PFN(goodFrames[len(goodFrames)-1].number() + 1)
	records := len(goodFrames) + len(goodSlots)
	slot, last := goodSlots[0].number(), goodSlots[len(goodSlots)-1].number()

	tests := []struct {
		name string
		file []byte

		// Exactly one of these says what ReadDump must answer.
		notDump bool   // errors.Is(err, ErrNotDump)
		prefix  string // the error starts with it
	}{
		{name: "an empty file is not a dump", file: nil, notDump: true},
		{name: "a text file is not a dump", file: []byte("name: tour\nsteps: []\n"), notDump: true},
		{name: "a file that starts like a dump in lower case is not one", file: []byte("simkdump\x01\x00\x00\x00"), notDump: true},
		{name: "the magic cut short is a truncated dump", file: []byte("SIMKDU"), prefix: "truncated dump: the header ends after 6 bytes"},
		{name: "three bytes of the magic are not a dump yet", file: []byte("SIM"), notDump: true},
		{name: "the magic alone is a truncated header", file: []byte("SIMKDUMP"), prefix: "truncated dump: the header ends after 8 bytes"},
		{name: "the magic and half a version is a truncated header", file: []byte("SIMKDUMP\x01\x00"), prefix: "truncated dump: the header ends after 10 bytes"},
		{name: "the header with no body", file: good[:12], prefix: "truncated dump: it ends inside the compressed header"},
		{name: "version 1 (before tags) in byte 8", file: withVersion(1, 8), prefix: "dump format version 1; this simkern reads version 5"},
		{name: "version 2 (every page inside the Dump) in byte 8", file: withVersion(2, 8), prefix: "dump format version 2; this simkern reads version 5"},
		{name: "version 3 (the verifier's counters apart) in byte 8", file: withVersion(3, 8), prefix: "dump format version 3; this simkern reads version 5"},
		{name: "version 4 (every PFN entry inside the Dump) in byte 8", file: withVersion(4, 8), prefix: "dump format version 4; this simkern reads version 5"},
		{name: "version 6 in byte 8", file: withVersion(6, 8), prefix: "dump format version 6; this simkern reads version 5"},
		{name: "version 0", file: withVersion(0, 8), prefix: "dump format version 0; this simkern reads version 5"},
		{name: "a version in the high byte is little-endian", file: withVersion(1, 11), prefix: fmt.Sprintf("dump format version %d; this simkern reads version 5", 1<<24|DumpVersion)},
		{name: "not gzip after the header", file: append(valid(good[:12]), "plain text, not gzip"...), prefix: "corrupt dump: gzip: invalid header"},
		{name: "the gzip trailer cut off", file: good[:len(good)-8], prefix: "truncated dump: unexpected EOF"},
		{name: "the gzip checksum wrong", file: func() []byte { b := valid(good); b[len(b)-8] ^= 1; return b }(), prefix: "corrupt dump: gzip: invalid checksum"},
		{name: "garbage after the gzip stream", file: append(valid(good), "trailing garbage"...), prefix: "corrupt dump: bytes after the end of the compressed stream"},
		{name: "gzip of something that is not a gob", file: gzipOf(t, DumpVersion, []byte("hello")), prefix: "corrupt dump: "},
		{name: "gzip of an empty body", file: gzipOf(t, DumpVersion, nil), prefix: "corrupt dump: EOF"},
		{name: "a gob of another type", file: gzipOf(t, DumpVersion, gobOf(t, 42)), prefix: "corrupt dump: gob: type mismatch"},
		{name: "a dump with no machine", file: gzipOf(t, DumpVersion, gobOf(t, &Dump{Simkern: "x", Pool: goodDump.Pool})), prefix: "corrupt dump: no machine or pool in it"},
		{name: "a dump with no pool", file: gzipOf(t, DumpVersion, gobOf(t, &Dump{Simkern: "x", Machine: goodDump.Machine})), prefix: "corrupt dump: no machine or pool in it"},
		{
			name: "a machine of no frames",
			file: func() []byte {
				d := *goodDump
				ms := *d.Machine
				ms.Frames = 0
				d.Machine = &ms
				return streamOf(t, &d, goodFrames, goodSlots)
			}(),
			prefix: "corrupt dump: damaged machine snapshot: 0 frames",
		},
		{
			name: "a page table root past the last frame",
			file: func() []byte {
				d := *goodDump
				ms := *d.Machine
				ms.PML4 = mm.PFN(ms.Frames)
				d.Machine = &ms
				return streamOf(t, &d, goodFrames, goodSlots)
			}(),
			prefix: "corrupt dump: damaged machine snapshot: PML4 frame",
		},
		{
			name: "a pool of two CPUs on a machine of one",
			file: func() []byte {
				d := *goodDump
				ps := *d.Pool
				ps.CPUs = append(ps.CPUs, ps.CPUs...)
				d.Pool = &ps
				return streamOf(t, &d, goodFrames, goodSlots)
			}(),
			prefix: "corrupt dump: damaged pool snapshot: 2 CPUs for a machine of 1",
		},

		// The records must be exactly those the Dump announces, in order:
		// one for each frame handed out, the frame's page after it when it
		// has bytes, then one for each slot in use.
		{
			name:   "the Dump alone, its records all missing",
			file:   streamOf(t, goodDump),
			prefix: fmt.Sprintf("corrupt dump: the stream ends before frame record 1 of %d", len(goodFrames)),
		},
		{
			name:   "a frame record missing",
			file:   withFrames(func(r []record) []record { return slices.Delete(r, 0, 1) }),
			prefix: "corrupt dump: damaged machine snapshot: the entry of frame 0x1 where frame 0x0's is due",
		},
		{
			name:   "a frame record twice",
			file:   withFrames(func(r []record) []record { return slices.Insert(r, 0, r[0]) }),
			prefix: "corrupt dump: damaged machine snapshot: the entry of frame 0x0 where frame 0x1's is due",
		},
		{
			name:   "two frame records swapped",
			file:   withFrames(func(r []record) []record { r[0], r[1] = r[1], r[0]; return r }),
			prefix: "corrupt dump: damaged machine snapshot: the entry of frame 0x1 where frame 0x0's is due",
		},
		{
			name: "a record for a frame never handed out",
			file: withFrames(func(r []record) []record {
				return append(r[:len(r)-1], record{head: frameRecordOf(unlisted, 0)})
			}),
			prefix: fmt.Sprintf("corrupt dump: damaged machine snapshot: the entry of frame %#x where frame %#x's is due", unlisted, unlisted-1),
		},
		{
			name: "a frame record in a state that does not exist",
			file: withFrames(func(r []record) []record {
				r[1].head = slices.Clone(r[1].head)
				r[1].head[frameRecordBytes-2] = byte(mm.StateActive + 1)
				return r
			}),
			prefix: "corrupt dump: damaged machine snapshot: frame 0x1 in state 5",
		},
		{
			name:   "a frame record with a flag simkern never sets",
			file:   withFrames(func(r []record) []record { r[1] = record{head: frameRecordOf(1, 0x80)}; return r }),
			prefix: "corrupt dump: frame 0x1's record has flags 0x80",
		},
		{
			name: "a frame's page without the flag that announces it",
			file: withFrames(func(r []record) []record {
				r[paged].head = slices.Clone(r[paged].head)
				r[paged].head[frameRecordBytes-1] &^= frameHasBytes
				return r
			}),
			// The page is read as the next frame's record.
			prefix: "corrupt dump: damaged machine snapshot: the entry of frame ",
		},
		{
			name:   "the stream ends inside a frame's page",
			file:   streamOf(t, goodDump, goodFrames[:paged], []record{{goodFrames[paged].head, goodFrames[paged].page[:100]}}),
			prefix: fmt.Sprintf("corrupt dump: the stream ends inside frame %#x's page", goodFrames[paged].number()),
		},
		{
			name:   "the stream ends between frame records",
			file:   streamOf(t, goodDump, goodFrames[:2]),
			prefix: fmt.Sprintf("corrupt dump: the stream ends before frame record 3 of %d", len(goodFrames)),
		},
		{
			name:   "a slot record missing",
			file:   withSlots(func(r []record) []record { return r[1:] }),
			prefix: fmt.Sprintf("corrupt dump: the stream ends before slot record %d of %d", len(goodSlots), len(goodSlots)),
		},
		{
			name: "a slot record with owner 0",
			file: withSlots(func(r []record) []record {
				r[0].head = binary.LittleEndian.AppendUint64(slices.Clone(r[0].head[:8]), 0)
				return r
			}),
			prefix: fmt.Sprintf("corrupt dump: pagefile: snapshot slot %d has owner 0", slot),
		},
		{
			name: "a slot record past the pagefile's end",
			file: withSlots(func(r []record) []record {
				r[0].head = binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, 1<<40), 7)
				return r
			}),
			prefix: fmt.Sprintf("corrupt dump: pagefile: snapshot slot %d is out of order or out of range", uint64(1<<40)),
		},
		{
			name:   "the last page cut short at the stream's end",
			file:   withSlots(func(r []record) []record { r[len(r)-1].page = r[len(r)-1].page[:100]; return r }),
			prefix: fmt.Sprintf("corrupt dump: the stream ends inside slot %#x's page", last),
		},
		{
			name:   "a record after the last one announced",
			file:   withSlots(func(r []record) []record { return append(r, r[len(r)-1]) }),
			prefix: fmt.Sprintf("corrupt dump: records past the last of the %d its record announces", records),
		},
		{
			name: "a byte after the last page",
			file: withSlots(func(r []record) []record {
				r[len(r)-1].page = append(bytes.Clone(r[len(r)-1].page), 0)
				return r
			}),
			prefix: fmt.Sprintf("corrupt dump: records past the last of the %d its record announces", records),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, target, err := ReadDump(bytes.NewReader(tc.file))
			if target != nil {
				target.Machine.Close()
			}
			if d != nil || target != nil {
				t.Errorf("ReadDump returned a dump or a target with its error %v", err)
			}
			if tc.notDump {
				if !errors.Is(err, ErrNotDump) {
					t.Errorf("ReadDump: %v, want ErrNotDump", err)
				}
			} else if err == nil || !strings.HasPrefix(err.Error(), tc.prefix) {
				t.Errorf("ReadDump: %v, want an error starting %q", err, tc.prefix)
			}
		})
	}
}

// A dump cut anywhere is an error that says so: each prefix of a real
// dump, every 7th length, plus the last 16 lengths one at a time. Cut
// inside the 10-byte gzip header (12 to 21 bytes in all), it says the cut
// is there.
func TestTruncatedDumps(t *testing.T) {
	good := smallDump(t)
	const gzipStart, gzipHeaderEnd = 12, 22
	check := func(n int) {
		d, err := readWithoutPanic(good[:n])
		if err == nil {
			t.Errorf("a dump of %d bytes cut to %d read without error: %+v", len(good), n, d)
			return
		}
		msg := err.Error()
		var ok bool
		switch {
		case n < 4: // too little of the magic to call it a dump
			ok = errors.Is(err, ErrNotDump)
		case n < gzipStart:
			ok = strings.HasPrefix(msg, "truncated dump: the header ends after")
		case n < gzipHeaderEnd:
			ok = msg == "truncated dump: it ends inside the compressed header"
		default:
			ok = strings.HasPrefix(msg, "truncated dump")
		}
		if !ok {
			t.Errorf("cut to %d of %d bytes: %q", n, len(good), msg)
		}
	}
	for n := 0; n < len(good); n += 7 {
		check(n)
	}
	for n := max(0, len(good)-16); n < len(good); n++ {
		check(n)
	}
}

// TestDumpThatExpandsTooFar: a crafted file whose gob message claims a
// gigabyte of zeros, a few hundred kilobytes compressed, is refused once
// it has expanded past what a simkern Dump does, not read into memory
// whole.
func TestDumpThatExpandsTooFar(t *testing.T) {
	var file bytes.Buffer
	file.WriteString(dumpMagic)
	file.Write([]byte{DumpVersion, 0, 0, 0})
	zw := gzip.NewWriter(&file)
	zw.Write([]byte{0xFC, 0x40, 0, 0, 0}) // a gob message of 1 GiB follows
	zeros := make([]byte, 1<<20)
	for range expansionFloor>>20 + 8 {
		zw.Write(zeros)
	}
	zw.Close()
	// (Without the check, the read goes on to the end of the zeros and
	// says the message was cut short.)
	if _, err := readWithoutPanic(file.Bytes()); err == nil || !strings.Contains(err.Error(), "expands more than") {
		t.Errorf("a %d-byte file claiming 1 GiB: %v, want it refused as expanding too far", file.Len(), err)
	}
}

// readWithoutPanic is ReadDump with a panic turned into a test failure's
// error, so a sweep reports every bad input rather than the first. It
// closes the machine of a dump that reads.
func readWithoutPanic(b []byte) (d *Dump, err error) {
	defer func() {
		if p := recover(); p != nil {
			d, err = nil, fmt.Errorf("ReadDump panicked: %v", p)
		}
	}()
	d, t, err := ReadDump(bytes.NewReader(b))
	if t != nil {
		t.Machine.Close()
	}
	return d, err
}

// Flipped bytes inside the gzip stream: gzip's checksum or the inflater
// catches nearly all; whatever gets through must still read or be refused
// without a panic.
func TestFlippedBytesInADump(t *testing.T) {
	good := smallDump(t)
	caught, through := 0, 0
	for at := 12; at < len(good); at += max(1, len(good)/300) {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			b := append([]byte(nil), good...)
			b[at] ^= mask
			if _, err := readWithoutPanic(b); err != nil {
				if strings.HasPrefix(err.Error(), "ReadDump panicked") {
					t.Errorf("byte %d ^ %#x: %v", at, mask, err)
				}
				caught++
				continue
			}
			through++
		}
	}
	t.Logf("%d damaged files refused, %d read anyway (gzip header bytes gzip ignores)", caught, through)
	if caught == 0 {
		t.Error("no flipped byte was caught")
	}
}

// FuzzReadDump: no file makes ReadDump panic. The seeds are a real dump,
// its prefixes, a few damaged headers and a Dump without its pages.
//
//	go test ./kd -run '^$' -fuzz FuzzReadDump -fuzztime 60s
func FuzzReadDump(f *testing.F) {
	good := smallDump(f)
	f.Add(good)
	for _, n := range []int{0, 8, 12, 22, len(good) / 2, len(good) - 8, len(good) - 1} {
		f.Add(good[:n])
	}
	bumped := append([]byte(nil), good...)
	bumped[8] = 2
	f.Add(bumped)
	f.Add(gzipOf(f, DumpVersion, gobOf(f, &Dump{Simkern: "x"})))
	d, _, _ := recordsOf(f, good)
	f.Add(streamOf(f, d))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, target, err := ReadDump(bytes.NewReader(data))
		if err != nil {
			if d != nil || target != nil {
				t.Fatalf("ReadDump returned a dump or a target and the error %v", err)
			}
			return
		}
		if d == nil || target == nil {
			t.Fatal("ReadDump returned no error and no dump or no target")
		}
		target.Machine.Close()
	})
}
