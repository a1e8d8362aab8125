package cpu

import (
	"fmt"
	"strconv"
	"strings"
)

// IRQL is an interrupt request level, 0..15 on x64.
type IRQL uint8

// The x64 levels. 3..11 are device interrupt levels (DIRQL).
const (
	PassiveLevel  IRQL = 0
	ApcLevel      IRQL = 1
	DispatchLevel IRQL = 2
	CmciLevel     IRQL = 5
	SynchLevel    IRQL = 12
	ClockLevel    IRQL = 13
	IpiLevel      IRQL = 14
	PowerLevel    IRQL = 14
	ProfileLevel  IRQL = 15
	HighLevel     IRQL = 15
)

// MaxIRQL is the highest level there is.
const MaxIRQL = HighLevel

var irqlNames = [...]string{
	PassiveLevel:  "PASSIVE_LEVEL",
	ApcLevel:      "APC_LEVEL",
	DispatchLevel: "DISPATCH_LEVEL",
	3:             "DIRQL",
	4:             "DIRQL",
	CmciLevel:     "CMCI_LEVEL",
	6:             "DIRQL",
	7:             "DIRQL",
	8:             "DIRQL",
	9:             "DIRQL",
	10:            "DIRQL",
	11:            "DIRQL",
	SynchLevel:    "SYNCH_LEVEL",
	ClockLevel:    "CLOCK_LEVEL",
	IpiLevel:      "IPI_LEVEL",
	HighLevel:     "HIGH_LEVEL",
}

// String returns the level's name, e.g. "DISPATCH_LEVEL".
func (l IRQL) String() string {
	if int(l) < len(irqlNames) {
		return irqlNames[l]
	}
	return "IRQL(" + strconv.Itoa(int(l)) + ")"
}

// names accepted by ParseIRQL besides those String returns.
var irqlAliases = map[string]IRQL{
	"PASSIVE_LEVEL": PassiveLevel, "LOW_LEVEL": PassiveLevel, "PASSIVE": PassiveLevel,
	"APC_LEVEL": ApcLevel, "APC": ApcLevel,
	"DISPATCH_LEVEL": DispatchLevel, "DISPATCH": DispatchLevel, "DPC_LEVEL": DispatchLevel,
	"CMCI_LEVEL": CmciLevel, "SYNCH_LEVEL": SynchLevel, "CLOCK_LEVEL": ClockLevel,
	"CLOCK2_LEVEL": ClockLevel, "IPI_LEVEL": IpiLevel, "POWER_LEVEL": PowerLevel,
	"PROFILE_LEVEL": ProfileLevel, "HIGH_LEVEL": HighLevel, "HIGH": HighLevel,
}

// IRQLNames lists the names ParseIRQL accepts, for error messages.
func IRQLNames() []string {
	return []string{"PASSIVE_LEVEL", "APC_LEVEL", "DISPATCH_LEVEL", "CMCI_LEVEL", "SYNCH_LEVEL",
		"CLOCK_LEVEL", "IPI_LEVEL", "POWER_LEVEL", "PROFILE_LEVEL", "HIGH_LEVEL"}
}

// ParseIRQL accepts a level's name (any case) or its number, 0..15.
func ParseIRQL(s string) (IRQL, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	if l, ok := irqlAliases[t]; ok {
		return l, nil
	}
	base := 10
	if strings.HasPrefix(t, "0X") {
		t, base = t[2:], 16
	}
	n, err := strconv.ParseUint(t, base, 8)
	if err != nil || n > uint64(MaxIRQL) {
		return 0, fmt.Errorf("unknown IRQL %q: want a level name (PASSIVE_LEVEL, APC_LEVEL, DISPATCH_LEVEL, ..., HIGH_LEVEL) or a number 0-15", s)
	}
	return IRQL(n), nil
}
