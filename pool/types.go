package pool

import (
	"fmt"
	"strconv"
	"strings"

	"simkern/cpu"
)

// Type is a POOL_TYPE, numbered as in wdm.h.
type Type uint32

// The pool types simkern accepts.
const (
	NonPagedPool             Type = 0
	PagedPool                Type = 1
	NonPagedPoolMustSucceed  Type = 2
	NonPagedPoolCacheAligned Type = 4
	PagedPoolCacheAligned    Type = 5
	NonPagedPoolNx           Type = 512
)

// typeNames in the order error messages list them.
var typeNames = []struct {
	name string
	t    Type
}{
	{"NonPagedPool", NonPagedPool},
	{"PagedPool", PagedPool},
	{"NonPagedPoolNx", NonPagedPoolNx},
	{"NonPagedPoolMustSucceed", NonPagedPoolMustSucceed},
	{"NonPagedPoolCacheAligned", NonPagedPoolCacheAligned},
	{"PagedPoolCacheAligned", PagedPoolCacheAligned},
}

// String returns the POOL_TYPE name.
func (t Type) String() string {
	for _, n := range typeNames {
		if n.t == t {
			return n.name
		}
	}
	return "PoolType(" + strconv.Itoa(int(t)) + ")"
}

// Paged reports whether t is a paged pool type (BASE_POOL_TYPE_MASK).
func (t Type) Paged() bool { return t&1 == 1 && t < 512 }

// MaxIRQL is the highest IRQL at which pool of type t may be allocated or
// freed: APC_LEVEL for paged pool, DISPATCH_LEVEL for nonpaged.
func (t Type) MaxIRQL() cpu.IRQL {
	if t.Paged() {
		return cpu.ApcLevel
	}
	return cpu.DispatchLevel
}

// MustSucceed reports whether t asks for must-succeed pool.
func (t Type) MustSucceed() bool { return t < 512 && t&2 != 0 }

// TypeNames lists the names ParseType accepts.
func TypeNames() []string {
	out := make([]string, len(typeNames))
	for i, n := range typeNames {
		out[i] = n.name
	}
	return out
}

// ValidTypes lists the names ParseType accepts with their numbers, for a
// message: "NonPagedPool (0), PagedPool (1), ...".
func ValidTypes() string {
	valid := make([]string, len(typeNames))
	for i, n := range typeNames {
		valid[i] = fmt.Sprintf("%s (%d)", n.name, n.t)
	}
	return strings.Join(valid, ", ")
}

// ParseType accepts a POOL_TYPE name or number.
func ParseType(s string) (Type, error) {
	for _, n := range typeNames {
		if strings.EqualFold(n.name, s) {
			return n.t, nil
		}
	}
	if v, err := strconv.ParseUint(s, 0, 32); err == nil {
		for _, n := range typeNames {
			if uint64(n.t) == v {
				return n.t, nil
			}
		}
	}
	return 0, fmt.Errorf("unknown pool type %q: want one of %s, by name or number", s, ValidTypes())
}

// Tag is a pool tag: four characters stored little-endian, so 'Abcd' is
// 0x64636241 and the first character is the low byte.
type Tag uint32

// ProtectedTag is PROTECTED_POOL: a tag with this bit must be freed with
// ExFreePoolWithTag and the same tag.
const ProtectedTag Tag = 0x80000000

// TagOf packs up to four characters into a Tag, padding with spaces.
func TagOf(s string) Tag {
	var b [4]byte
	for i := range b {
		b[i] = ' '
		if i < len(s) {
			b[i] = s[i]
		}
	}
	return Tag(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
}

// ParseTag accepts one to four printable characters, or a 0x number.
func ParseTag(s string) (Tag, error) {
	// Errors quote at most 40 characters of s (%.40q): s may be anything
	// a file held.
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		v, err := strconv.ParseUint(s[2:], 16, 32)
		if err != nil {
			return 0, fmt.Errorf("bad tag %.40q: a 0x tag is 1 to 8 hex digits", s)
		}
		return Tag(v), nil
	}
	if len(s) < 1 || len(s) > 4 {
		return 0, fmt.Errorf("bad tag %.40q: a tag is 1 to 4 characters", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return 0, fmt.Errorf("bad tag %q: tag characters must be printable ASCII", s)
		}
	}
	return TagOf(s), nil
}

// String returns the four characters, non-printable bytes as '.', the
// protected bit stripped (as !poolused shows tags).
func (t Tag) String() string {
	var b [4]byte
	v := uint32(t &^ ProtectedTag)
	for i := range b {
		c := byte(v >> (8 * i))
		if c < 0x20 || c > 0x7e {
			c = '.'
		}
		b[i] = c
	}
	return string(b[:])
}
