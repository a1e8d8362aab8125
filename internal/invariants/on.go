//go:build invariants

package invariants

// Enabled is true when built with -tags invariants: simkern checks its own
// bookkeeping (frame ledger, list counts, tag totals) and panics on a
// mismatch, because such a mismatch is a simkern bug, never a scenario's.
const Enabled = true
