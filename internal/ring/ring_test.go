package ring

import (
	"slices"
	"testing"
)

func TestRing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		bound  int
		add    int // values 1..add
		all    []int
		newest []int // Newest(2)
	}{
		{"empty", 3, 0, []int{}, []int{}},
		{"not full", 3, 2, []int{1, 2}, []int{2, 1}},
		{"just full", 3, 3, []int{1, 2, 3}, []int{3, 2}},
		{"wrapped once", 3, 4, []int{2, 3, 4}, []int{4, 3}},
		{"wrapped many times", 3, 11, []int{9, 10, 11}, []int{11, 10}},
		{"bound one", 1, 5, []int{5}, []int{5}},
		{"bound zero keeps nothing", 0, 5, []int{}, []int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New[int](tc.bound)
			for v := 1; v <= tc.add; v++ {
				// Once the ring holds bound values, each Add drops the
				// oldest: the value added bound Adds before.
				dropped, ok := r.Add(v)
				if wantOK := v > tc.bound; ok != wantOK || ok && dropped != v-tc.bound {
					t.Fatalf("Add(%d) dropped %d, %v; want %d, %v", v, dropped, ok, v-tc.bound, wantOK)
				}
			}
			if got := r.All(); !slices.Equal(got, tc.all) {
				t.Errorf("All() = %v, want %v", got, tc.all)
			}
			if got := r.Newest(2); !slices.Equal(got, tc.newest) {
				t.Errorf("Newest(2) = %v, want %v", got, tc.newest)
			}
			if r.Total() != uint64(tc.add) || r.Len() != len(tc.all) {
				t.Errorf("Total() = %d, Len() = %d; want %d, %d", r.Total(), r.Len(), tc.add, len(tc.all))
			}
			back := Restore(tc.bound, r.All(), r.Total())
			back.Add(100)
			r.Add(100)
			if !slices.Equal(back.All(), r.All()) || back.Total() != r.Total() {
				t.Errorf("restored ring after one more Add: %v (total %d), want %v (total %d)", back.All(), back.Total(), r.All(), r.Total())
			}
		})
	}
}

func TestNewestBounds(t *testing.T) {
	r := New[int](4)
	for v := range 6 {
		r.Add(v)
	}
	for _, tc := range []struct {
		n    int
		want []int
	}{{-1, []int{}}, {0, []int{}}, {1, []int{5}}, {4, []int{5, 4, 3, 2}}, {9, []int{5, 4, 3, 2}}} {
		if got := r.Newest(tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("Newest(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
}

// TestAddDoesNotAllocateWhenFull: a full ring logs in place.
func TestAddDoesNotAllocateWhenFull(t *testing.T) {
	r := New[[4]uint64](64)
	for range 64 {
		r.Add([4]uint64{})
	}
	if n := testing.AllocsPerRun(1000, func() { r.Add([4]uint64{1}) }); n != 0 {
		t.Errorf("Add on a full ring allocates %v times", n)
	}
}
