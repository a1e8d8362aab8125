// Package ring is a bounded log: it keeps the last values added and drops
// the oldest first. Its storage grows with use up to its bound, so a run
// that logs little costs little.
package ring

// Ring keeps the last values added, up to its bound. The zero value keeps
// nothing; New makes one with a bound.
type Ring[T any] struct {
	buf   []T
	max   int
	next  int    // where the next value goes once buf is full: the oldest
	total uint64 // values ever added
}

// New returns an empty ring that keeps the last bound values.
func New[T any](bound int) Ring[T] { return Ring[T]{max: bound} }

// Add logs v, dropping the oldest value when the ring is full; it returns
// the value dropped, if one was (with a bound of 0, v itself).
func (r *Ring[T]) Add(v T) (dropped T, ok bool) {
	r.total++
	switch {
	case r.max <= 0:
		return v, true
	case len(r.buf) < r.max:
		r.buf = append(r.buf, v)
	default:
		dropped, ok = r.buf[r.next], true
		r.buf[r.next] = v
		r.next = (r.next + 1) % r.max
	}
	return dropped, ok
}

// Len returns the values kept.
func (r *Ring[T]) Len() int { return len(r.buf) }

// Total returns the values ever added, kept or dropped.
func (r *Ring[T]) Total() uint64 { return r.total }

// All returns a copy of the values kept, oldest first.
func (r *Ring[T]) All() []T {
	out := make([]T, 0, len(r.buf))
	return append(append(out, r.buf[r.next:]...), r.buf[:r.next]...)
}

// Newest returns a copy of the last n values kept (all of them when fewer
// are kept), newest first.
func (r *Ring[T]) Newest(n int) []T {
	n = min(max(n, 0), len(r.buf))
	out := make([]T, n)
	for i := range n {
		out[i] = r.buf[(r.next-1-i+2*len(r.buf))%len(r.buf)]
	}
	return out
}

// Restore returns a ring that keeps the last bound values, holding values
// (oldest first; only the last bound are kept) after total values were
// ever added.
func Restore[T any](bound int, values []T, total uint64) Ring[T] {
	r := New[T](bound)
	for _, v := range values {
		r.Add(v)
	}
	r.total = max(total, r.total)
	return r
}
