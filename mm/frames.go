package mm

// Frame allocation. takeFrame hands out a frame from the free lists only;
// getFrame also makes room, the way the balance set manager would: it
// repurposes standby frames, runs the modified page writer, and trims the
// working set, in that order, and as a last resort releases idle nonpaged
// pages (releaseIdle).

// takeFrame returns an Active, nonpageable frame from node's lists first,
// then from the other nodes, or false when every free list is empty. With
// zero the frame's bytes are cleared (a frame from the free list is zeroed
// on the way out, as the zero-page thread would have done).
func (m *Machine) takeFrame(node int, zero bool) (PFN, bool) {
	for i := range m.nodes {
		n := &m.nodes[(node+i)%len(m.nodes)]
		f, ok := m.takeFromNode(n, zero)
		if ok {
			return f, true
		}
	}
	return 0, false
}

func (m *Machine) takeFromNode(n *nodeFrames, zero bool) (PFN, bool) {
	// A zeroing request prefers frames already zero; an in-page read,
	// which overwrites the frame anyway, prefers the free list. Both take
	// a frame that was used before ahead of a never-used one, so the host
	// memory behind the machine follows the most it ever had in use, not
	// every frame it ever handed out.
	first, second := &n.zeroed, &n.free
	if !zero {
		first, second = second, first
	}
	if f, ok := m.popHead(first); ok {
		m.activate(f, zero && first == &n.free)
		return f, true
	}
	if f, ok := m.popHead(second); ok {
		m.activate(f, zero && second == &n.free)
		return f, true
	}
	if n.next < n.end {
		return m.untouched(n), true
	}
	return 0, false
}

// untouched hands out the next never-used frame of n. Its bytes are made
// lazily, and read as zero until then.
func (m *Machine) untouched(n *nodeFrames) PFN {
	f := PFN(n.next)
	n.next++
	m.activate(f, false)
	return f
}

// activate makes a frame just popped from a list Active and nonpageable.
func (m *Machine) activate(f PFN, zero bool) {
	e := m.entry(f)
	*e = PFNEntry{flink: noFrame, blink: noFrame, State: StateActive}
	m.activeNonpageable++
	if zero {
		if d := m.peekFrame(f); d != nil {
			*d = [PageBytes]byte{}
		}
		m.stats.FramesZeroed++
	}
}

// releaseFrame puts a frame that no PTE will use again on its node's free
// list, from whatever list it is on, and gives back its pagefile slot.
func (m *Machine) releaseFrame(f PFN) {
	e := m.entry(f)
	if e.Slot != 0 {
		m.Pagefile.Release(e.Slot)
	}
	m.setState(f, StateFree, false)
	e.PageTable, e.Modified, e.VA, e.Slot = false, false, 0, 0
}

// getFrame returns a frame, making room if it must. It fails only when
// nothing can be repurposed, written out, trimmed or released. Each pass
// moves pages one way only (working set to standby or modified, modified
// to standby, standby or idle to free), so the loop ends.
func (m *Machine) getFrame(node int, zero bool) (PFN, bool) {
	for {
		if f, ok := m.takeFrame(node, zero); ok {
			return f, true
		}
		if f, ok := m.repurposeStandby(zero); ok {
			return f, true
		}
		switch {
		case m.modified.count > 0 && m.writeModified(modifiedWriteBatch) > 0:
		case m.trimOldest(trimBatch) > 0:
			// Trim on while trimming finds pages: a clean one (with its
			// pagefile copy) goes to standby even when the modified list
			// holds pages a full pagefile cannot take.
		case m.releaseIdle(trimBatch) > 0: // the last resort
		default:
			return 0, false
		}
	}
}

// Batches for the pressure path: how much the trimmer and the modified
// page writer do each time memory runs out.
const (
	trimBatch          = 64
	modifiedWriteBatch = 64
)

// repurposeStandby takes the oldest standby frame: its page now lives only
// in the pagefile, so its transition PTE becomes a pagefile PTE.
func (m *Machine) repurposeStandby(zero bool) (PFN, bool) {
	f, ok := m.popHead(&m.standby)
	if !ok {
		return 0, false
	}
	m.leaveInPagefile(f)
	m.activate(f, zero)
	m.stats.Repurposed++
	return f, true
}
