// Package verifier is Driver Verifier for the simulated kernel: extra
// checks and injected failures for the drivers a scenario names.
//
// The verifier stands between a driver and the pool. Every allocation and
// free a scenario step makes for a driver goes through Allocate and Free
// here; for a driver that is not verified they pass straight to the pool.
// A verified driver's allocation, in order:
//
//	IRQL rules            0xC4 with P1 1 (paged) or 2 (nonpaged) instead of the pool's 0xC2/8:
//	                      the verifier sees the bad call first (a zero-byte request is the
//	                      pool's 0xC2/0, as Driver Verifier raises it)
//	must succeed          more than a page of must-succeed pool is 0xC4/3
//	low resources         the allocation fails on purpose (NULL), by probability, after a
//	                      number of allocations, for some tags, or systematically: the first
//	                      time each call site (code address) allocates
//	special pool          the allocation gets a page of its own next to a guard page; when
//	                      special pool has no room it falls back to the normal pool, which
//	                      special pool counts (pool.SpecialStats)
//	pool tracking         each outstanding allocation is recorded against its driver, so an
//	                      unload that leaves any is 0xC4/0x62
//
// A verified driver's free, in order:
//
//	an address no allocation returned                   0xC4/0x10
//	IRQL rules                                          0xC4/0x11 (paged), 0x12 (nonpaged),
//	                                                    instead of the pool's 0xC2/9
//	a small block freed twice                           0xC4/0x13, before the pool's 0xC2/7
//	with pool tracking, a block written past its end    0xC4/0x51, before the pool's 0x19/0x21
//
// Each verified driver's allocations are counted per pool, outstanding
// and at their peak (Driver.NonPaged and Paged, which !verifier 3 prints),
// whoever frees them. Windows keeps these counters only with pool
// tracking; simkern keeps them always, as it does the bytes !verifier
// lists for each driver, so they mean the same with the option or without.
//
// Force IRQL checking is a hook the scenario calls when a verified driver
// or the kernel raises the IRQL to DISPATCH_LEVEL or above: every pageable
// page is trimmed, so a paged access at that IRQL faults (0xD1, or the
// kernel's 0xA) every time, not only when the page happens to be out.
// Windows trims on the verified driver's raise alone; the scenario format
// promises a trim whenever IRQL is raised, and a scenario's kernel steps
// stand for the system around the driver. An unverified driver's raise
// trims nothing.
//
// Every injected failure is numbered, in order, from 1, and kept with the
// driver, the code address and the request, so a report can say which
// injections came before a bugcheck and which touched it.
//
// Three logs (log.go) keep the last of a verified driver's pool calls,
// IRQL changes and injected failures, for !verifier 0x80, 8 and 4: rings
// that grow with use up to Windows' sizes and then overwrite in place.
//
// Randomness (the low-resources probability) comes from a generator seeded
// from the machine's seed, so a failing run is reproduced by its seed.
package verifier
