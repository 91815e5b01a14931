package store

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// EventID is a parsed event id. Ids have the shape of Redis stream ids, "<ms>-<seq>", in both
// stores, so a client's cursor means the same thing whichever store a deployment uses.
type EventID struct {
	MS, Seq uint64
}

// ParseEventID parses "<ms>-<seq>" or "0" (before every event).
func ParseEventID(s string) (EventID, error) {
	if s == "0" {
		return EventID{}, nil
	}
	ms, seq, ok := strings.Cut(s, "-")
	if !ok {
		return EventID{}, fmt.Errorf("%w: %q", ErrBadCursor, s)
	}
	a, err1 := strconv.ParseUint(ms, 10, 64)
	b, err2 := strconv.ParseUint(seq, 10, 64)
	if err1 != nil || err2 != nil {
		return EventID{}, fmt.Errorf("%w: %q", ErrBadCursor, s)
	}
	return EventID{a, b}, nil
}

// String formats the id.
func (id EventID) String() string {
	if id == (EventID{}) {
		return "0"
	}
	return strconv.FormatUint(id.MS, 10) + "-" + strconv.FormatUint(id.Seq, 10)
}

// Less orders ids.
func (id EventID) Less(o EventID) bool {
	return id.MS < o.MS || (id.MS == o.MS && id.Seq < o.Seq)
}

// nextEventID returns the id for an event appended at now after last, as Redis XADD * does.
func nextEventID(last EventID, now time.Time) EventID {
	ms := uint64(now.UnixMilli())
	if ms > last.MS {
		return EventID{MS: ms}
	}
	return EventID{MS: last.MS, Seq: last.Seq + 1}
}
