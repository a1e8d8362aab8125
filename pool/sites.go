package pool

// Allocation sites: the code address that called the pool and the tag it
// passed. A block's record names its site by index, so the record stays 32
// bits (blockRecord); a scenario has a few sites, a workload one.

// allocSite is one (caller, tag) pair.
type allocSite struct {
	owner uint64
	tag   Tag
}

// maxSites bounds the table by the bits a record has for the index. Like
// PoolTrackTable's overflow entry, site 0 absorbs what does not fit: a run
// with over a million distinct callers and tags reports the rest as owner
// 0, tag 0 (docs/pool.md).
const maxSites = 1 << (32 - requestedBits)

// siteTable interns allocation sites. Index 0 is the unknown site.
type siteTable struct {
	limit int // maxSites; tests lower it
	sites []allocSite
	index map[allocSite]uint32
	last  allocSite // the site interned last, and its index: the common case
	lastI uint32
}

func (t *siteTable) init() {
	t.limit = maxSites
	t.sites = []allocSite{{}}
	t.index = map[allocSite]uint32{{}: 0}
}

// intern returns s's index, adding s while there is room.
func (t *siteTable) intern(s allocSite) uint32 {
	if s == t.last && t.lastI != 0 {
		return t.lastI
	}
	i, ok := t.index[s]
	if !ok {
		if len(t.sites) >= t.limit {
			return 0
		}
		i = t.add(s)
	}
	t.last, t.lastI = s, i
	return i
}

// add appends s and returns its index. A site already in the table keeps
// its first index for intern; a restored table may list one twice.
func (t *siteTable) add(s allocSite) uint32 {
	i := uint32(len(t.sites))
	t.sites = append(t.sites, s)
	if _, ok := t.index[s]; !ok {
		t.index[s] = i
	}
	return i
}

// at returns the site with index i.
func (t *siteTable) at(i uint32) allocSite { return t.sites[i] }
