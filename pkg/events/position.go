// Package events is InstaChat's live-event vocabulary: the position of an
// event in its partition's Redis stream, the event as clients see it, and a
// reader of the streams.
//
// Every write the api accepts (a chat or message created, a message updated
// or deleted, a chat deleted) is appended to its partition's stream in the
// same Lua step that hands out its number and queues its job (package
// counter), so the events of a chat are in the order of their numbers, an
// event leaves as soon as the write is accepted, and an idempotent replay
// appends nothing. Positions are "<generation>-<sequence>": the sequence
// counts 1, 2, 3… without holes within a generation, and a new generation
// starts when Redis went back in time (a failover, a restart that lost data,
// FLUSHALL), so "is this range complete?" is arithmetic.
package events

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Position is where an event sits in its partition's stream: generation,
// then sequence. It is also the stream entry id.
type Position struct{ Gen, Seq uint64 }

// ErrPosition is matched by the error for a malformed position.
var ErrPosition = errors.New("malformed event position")

// Parse reads "<gen>-<seq>" (decimal, without signs or leading zeros).
func Parse(s string) (Position, error) {
	g, q, ok := strings.Cut(s, "-")
	gen, err1 := parseUint(g)
	seq, err2 := parseUint(q)
	if !ok || err1 != nil || err2 != nil {
		return Position{}, fmt.Errorf("%q: want <generation>-<sequence>, two decimal numbers: %w", s, ErrPosition)
	}
	return Position{Gen: gen, Seq: seq}, nil
}

func parseUint(s string) (uint64, error) {
	if s == "" || len(s) > 1 && s[0] == '0' || len(s) > 20 {
		return 0, ErrPosition
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, ErrPosition
		}
	}
	return strconv.ParseUint(s, 10, 64)
}

// String is the position as an event id and stream entry id.
func (p Position) String() string {
	return strconv.FormatUint(p.Gen, 10) + "-" + strconv.FormatUint(p.Seq, 10)
}

// Less orders positions: by generation, then by sequence.
func (p Position) Less(q Position) bool {
	return p.Gen < q.Gen || p.Gen == q.Gen && p.Seq < q.Seq
}

// IsZero reports whether p is the zero position (before every event).
func (p Position) IsZero() bool { return p == Position{} }
