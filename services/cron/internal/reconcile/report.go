package reconcile

import (
	"fmt"
	"strings"

	"github.com/instachat/instachat/pkg/store"
)

// Kind names a difference between a row in MySQL and its replay.
type Kind string

// Kinds of difference.
const (
	MissingRow        Kind = "missing_row"         // the journal created the row; MySQL has none
	UnexpectedRow     Kind = "unexpected_row"      // MySQL has a row no event in the journal created
	BodyMismatch      Kind = "body_mismatch"       // a live message's body is not the newest event's
	DeletedMismatch   Kind = "deleted_mismatch"    // deleted in one, live in the other
	LastEventMismatch Kind = "last_event_mismatch" // a live row's last event id, time or stream position is not the replay's
	// NumberConflict is a create whose number another event had created: a
	// number handed out twice. The writer keeps the second create whole on
	// the dead list (kind number_conflict), where replaying it gives it a
	// new number; a repair cannot fix it, and the history is never clean.
	NumberConflict Kind = "number_conflict"
)

// Kinds lists every kind of difference in report order.
var Kinds = []Kind{MissingRow, UnexpectedRow, BodyMismatch, DeletedMismatch, LastEventMismatch, NumberConflict}

// Difference is one row that differs from its replay.
type Difference struct {
	Kind    Kind   `json:"kind"`
	AppID   int64  `json:"application_id"`
	Chat    int64  `json:"chat"`
	Message int64  `json:"message,omitempty"` // 0: the chat row
	Detail  string `json:"detail"`
	Fixed   bool   `json:"fixed"`
}

// String says where the difference is and what it is, in one line.
func (d Difference) String() string {
	where := fmt.Sprintf("application %d chat %d", d.AppID, d.Chat)
	if d.Message != 0 {
		where += fmt.Sprintf(" message %d", d.Message)
	}
	fixed := ""
	if d.Fixed {
		fixed = " (fixed)"
	}
	return fmt.Sprintf("%s %s: %s%s", d.Kind, where, d.Detail, fixed)
}

// Unverifiable counts the rows a pass could not check because the journal
// no longer holds their history (retention purged it).
type Unverifiable struct {
	Chats    int64 `json:"chats"`
	Messages int64 `json:"messages"`
}

// maxExamples bounds the differences a report lists one by one.
const maxExamples = 50

// Report is what a reconcile pass found and, with Repair, fixed.
type Report struct {
	Scope           string             `json:"scope"`
	Repair          bool               `json:"repair"`
	EventsReplayed  int64              `json:"events_replayed"`
	ChatsChecked    int64              `json:"chats_checked"`
	MessagesChecked int64              `json:"messages_checked"`
	NeverApplied    store.NeverApplied `json:"never_applied"`
	Unverifiable    Unverifiable       `json:"unverifiable"`
	// Differences and Fixed count by kind; every kind is present.
	Differences map[Kind]int64 `json:"differences"`
	Fixed       map[Kind]int64 `json:"fixed"`
	// Conflicts counts chats left unrepaired because the writer kept
	// changing their rows while the pass tried to repair them.
	Conflicts int64 `json:"conflicts"`
	// Examples lists the first differences found, at most 50.
	Examples []Difference `json:"examples"`
}

func newReport(opts Options) Report {
	r := Report{Scope: opts.scope(), Repair: opts.Repair, Differences: map[Kind]int64{}, Fixed: map[Kind]int64{}, Examples: []Difference{}}
	for _, k := range Kinds {
		r.Differences[k], r.Fixed[k] = 0, 0
	}
	return r
}

// Total is the number of differences found, fixed or not.
func (r Report) Total() int64 {
	var n int64
	for _, c := range r.Differences {
		n += c
	}
	return n
}

// Clean reports whether the pass found no difference.
func (r Report) Clean() bool { return r.Total() == 0 }

// add counts what checking one chat found.
func (r *Report) add(events int, f finding, na store.NeverApplied, repaired bool) {
	r.EventsReplayed += int64(events)
	r.NeverApplied.Parked += na.Parked
	r.NeverApplied.Dead += na.Dead
	if f.chatChecked {
		r.ChatsChecked++
	}
	if f.chatUnverifiable {
		r.Unverifiable.Chats++
	}
	r.MessagesChecked += f.messagesChecked
	r.Unverifiable.Messages += f.messagesUnverifiable
	for i, d := range f.diffs {
		d.Fixed = repaired && f.fixable[i]
		r.Differences[d.Kind]++
		if d.Fixed {
			r.Fixed[d.Kind]++
		}
		if len(r.Examples) < maxExamples {
			r.Examples = append(r.Examples, d)
		}
	}
}

func counts(m map[Kind]int64) string {
	parts := make([]string, 0, len(Kinds))
	for _, k := range Kinds {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// String is the report for people.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "reconcile %s: %d chats and %d messages checked, %d events replayed\n",
		r.Scope, r.ChatsChecked, r.MessagesChecked, r.EventsReplayed)
	fmt.Fprintf(&b, "events never applied: %d only parked, %d dead\n", r.NeverApplied.Parked, r.NeverApplied.Dead)
	if r.Unverifiable != (Unverifiable{}) {
		fmt.Fprintf(&b, "unverifiable (journal purged): %d chats, %d messages\n", r.Unverifiable.Chats, r.Unverifiable.Messages)
	}
	if r.Clean() {
		b.WriteString("clean: MySQL matches the journal\n")
		return b.String()
	}
	fmt.Fprintf(&b, "differences: %d (%s)\n", r.Total(), counts(r.Differences))
	if r.Repair {
		var fixed int64
		for _, n := range r.Fixed {
			fixed += n
		}
		fmt.Fprintf(&b, "fixed: %d (%s)\n", fixed, counts(r.Fixed))
	}
	if r.Conflicts > 0 {
		fmt.Fprintf(&b, "conflicts: %d chats kept changing during the repair; run again\n", r.Conflicts)
	}
	for _, d := range r.Examples {
		fmt.Fprintf(&b, "  %s\n", d)
	}
	if n := r.Total() - int64(len(r.Examples)); n > 0 {
		fmt.Fprintf(&b, "  … and %d more\n", n)
	}
	return b.String()
}
