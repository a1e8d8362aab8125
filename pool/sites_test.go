package pool

import "testing"

func TestSiteTable(t *testing.T) {
	var s siteTable
	s.init()
	s.limit = 3 // the unknown site and two more
	a, b, c := allocSite{0x1000, TagOf("AAAA")}, allocSite{0x2000, TagOf("BBBB")}, allocSite{0x1000, TagOf("CCCC")}
	steps := []struct {
		site allocSite
		want uint32
	}{
		{a, 1},
		{a, 1}, // the last site, again
		{b, 2},
		{a, 1}, // from the map
		{c, 0}, // no room: the unknown site
		{b, 2},
		{allocSite{}, 0},
	}
	for i, st := range steps {
		if got := s.intern(st.site); got != st.want {
			t.Fatalf("step %d: intern(%+v) = %d, want %d", i, st.site, got, st.want)
		}
		if got := s.at(st.want); st.want != 0 && got != st.site {
			t.Fatalf("step %d: at(%d) = %+v, want %+v", i, st.want, got, st.site)
		}
	}
	if got := s.at(0); got != (allocSite{}) {
		t.Errorf("at(0) = %+v, want the zero site", got)
	}
}

func TestBlockRecordPacking(t *testing.T) {
	for _, tc := range []struct {
		requested uint64
		site      uint32
	}{{1, 0}, {MaxSmallBytes, 1}, {488, maxSites - 1}, {4064, 12345}} {
		r := makeRecord(tc.requested, tc.site)
		if r.requested() != tc.requested || r.site() != tc.site {
			t.Errorf("makeRecord(%d, %d) unpacks to %d, %d", tc.requested, tc.site, r.requested(), r.site())
		}
	}
}
