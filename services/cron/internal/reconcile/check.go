package reconcile

import (
	"fmt"
	"slices"
	"time"

	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/store"
)

// finding is what checking one chat found: the counts, the differences
// and the repair that would remove them.
type finding struct {
	chatChecked          bool
	chatUnverifiable     bool
	messagesChecked      int64
	messagesUnverifiable int64
	diffs                []Difference
	repair               store.ChatRepair
	fixable              []bool // fixable[i]: the repair fixes diffs[i]
}

func (f *finding) add(d Difference, fixable bool) {
	f.diffs = append(f.diffs, d)
	f.fixable = append(f.fixable, fixable)
}

// needsRepair reports whether the repair writes anything.
func (f *finding) needsRepair() bool { return f.repair.Chat != nil || len(f.repair.Messages) > 0 }

// clockSkew is how far the api's clock (event times) and the database's
// (commit times) may disagree. A repair never removes a row created less
// than this after the horizon: its create may have been purged after all.
const clockSkew = time.Minute

// check replays h's events and compares the result with h's rows.
//
// A row whose history the journal no longer holds (retention purged it) is
// unverifiable, not a difference. Purging goes by commit time and an event
// commits after it was accepted, so an event accepted at or after h.Horizon
// is still in the journal: a row created (or last written) before the
// horizon by an event the journal lacks is unverifiable, a younger one is
// unexpected.
//
// The body and provenance of a deleted row are not compared: the writer
// stops at the first delete it sees, so they depend on the order events
// were delivered in, which the journal does not replay.
func check(h store.ChatHistory) finding {
	c := &checker{h: h, r: newReplay(), f: finding{repair: store.ChatRepair{Key: h.Key}}}
	created := slices.ContainsFunc(h.Events, func(e store.ReplayEvent) bool { return e.Type == queue.TypeChatCreate })
	unexpectedChat := false
	if h.Chat != nil && !created {
		// Replay the messages against the row as it is.
		c.r.seed(*h.Chat)
		if c.trimmed(h.Chat.CreatedAt) {
			c.f.chatUnverifiable = true
		} else {
			unexpectedChat = true
		}
	}
	for _, e := range h.Events {
		c.r.apply(e)
	}
	if !c.r.chat.exists {
		// Events took effect on a chat whose creation and row are both
		// gone: there is nothing to compare them with.
		c.f.chatUnverifiable = len(h.Events) > 0
		return c.f
	}
	switch {
	case c.f.chatUnverifiable:
	case unexpectedChat:
		c.f.chatChecked = true
	default:
		c.chatRow()
	}
	removed := c.messages()
	if unexpectedChat {
		c.unexpectedChat(removed)
	}
	c.conflicts()
	return c.f
}

// conflicts reports every number handed out twice: creates the writer
// refused (kept on the dead list) and, from older writers, second creates
// that took effect. None is fixable by a repair.
func (c *checker) conflicts() {
	ts := func(t time.Time) string { return t.Format(time.RFC3339Nano) }
	for _, e := range c.h.Conflicts {
		c.diff(e.Message, NumberConflict, fmt.Sprintf("create event %s (accepted %s) found its number taken by another event; "+
			"the writer kept it on the dead list, where a replay gives it a new number", e.EventID, ts(e.EventTime)), false)
	}
	for _, cl := range c.r.clashes {
		c.diff(cl.message, NumberConflict, fmt.Sprintf("create event %s (accepted %s) took effect on a row event %s had created: "+
			"a number handed out twice", cl.event.EventID, ts(cl.event.EventTime), cl.creator), false)
	}
}

// checker holds one chat's check while it runs.
type checker struct {
	h store.ChatHistory
	r *replay
	f finding
}

func (c *checker) trimmed(t time.Time) bool { return c.h.Horizon.IsZero() || t.Before(c.h.Horizon) }

func (c *checker) removable(createdAt time.Time) bool { return !c.trimmed(createdAt.Add(-clockSkew)) }

func (c *checker) diff(message int64, k Kind, detail string, fixable bool) {
	c.f.add(Difference{Kind: k, AppID: c.h.Key.AppID, Chat: c.h.Key.Number, Message: message, Detail: detail}, fixable)
}

// chatRow compares the chat row with a chat the journal created.
func (c *checker) chatRow() {
	exp := &c.r.chat
	if c.h.Chat == nil {
		c.f.chatChecked = true
		detail := fmt.Sprintf("no chat row; event %s created it", exp.last.EventID)
		if exp.deleted() {
			detail = fmt.Sprintf("no chat row; the journal created it and deleted it with event %s", exp.last.EventID)
		}
		c.diff(0, MissingRow, detail, true)
		c.f.repair.Chat = &store.RowFix{Op: store.RepairInsert, CreateEventID: exp.creator, LastEventID: exp.last.EventID,
			EventTime: exp.last.EventTime, Stream: exp.last.Stream, CreatedAt: exp.createdAt, DeletedAt: exp.deletedAt}
		return
	}
	kinds := compare(exp, *c.h.Chat, "", c.r.ids, c.trimmed)
	if kinds == nil {
		c.f.chatUnverifiable = true
		return
	}
	c.f.chatChecked = true
	for _, k := range kinds {
		c.diff(0, k, detail(k, exp, *c.h.Chat, ""), true)
	}
	if len(kinds) > 0 {
		c.f.repair.Chat = &store.RowFix{Op: store.RepairUpdate, Seen: c.h.Chat, LastEventID: exp.last.EventID,
			EventTime: exp.last.EventTime, Stream: exp.last.Stream, DeletedAt: exp.deletedAt}
	}
}

// messages compares every message the journal or MySQL has, and returns
// how many rows the repair removes.
func (c *checker) messages() (removed int) {
	rows := make(map[int64]store.StoredMessage, len(c.h.Messages))
	numbers := make([]int64, 0, len(c.h.Messages)+len(c.r.messages))
	for _, m := range c.h.Messages {
		rows[m.Number] = m
		numbers = append(numbers, m.Number)
	}
	for n := range c.r.messages {
		if _, ok := rows[n]; !ok {
			numbers = append(numbers, n)
		}
	}
	slices.Sort(numbers)
	for _, n := range numbers {
		stored, hasRow := rows[n]
		exp := c.r.messages[n]
		switch {
		case !c.r.created(n) && !hasRow:
			// Events took effect on a message whose creation and row are gone.
			c.f.messagesUnverifiable++
		case !c.r.created(n) && (c.trimmed(stored.CreatedAt) || len(c.r.waitMsg[n]) > 0):
			c.f.messagesUnverifiable++
		case !c.r.created(n):
			c.f.messagesChecked++
			if c.unexpectedMessage(stored) {
				removed++
			}
		case !hasRow:
			c.f.messagesChecked++
			c.diff(n, MissingRow, fmt.Sprintf("no message row; event %s created it", exp.last.EventID), true)
			c.f.repair.Messages = append(c.f.repair.Messages, store.MessageFix{Number: n, RowFix: fixOf(exp, store.RepairInsert, nil, "")})
		default:
			kinds := compare(exp, stored.StoredRow, stored.Body, c.r.ids, c.trimmed)
			if kinds == nil {
				c.f.messagesUnverifiable++
				continue
			}
			c.f.messagesChecked++
			for _, k := range kinds {
				c.diff(n, k, detail(k, exp, stored.StoredRow, stored.Body), true)
			}
			if len(kinds) > 0 {
				c.f.repair.Messages = append(c.f.repair.Messages, store.MessageFix{Number: n, RowFix: fixOf(exp, store.RepairUpdate, &stored.StoredRow, stored.Body)})
			}
		}
	}
	return removed
}

// unexpectedMessage reports a message row no event created and plans its
// removal, unless it is too close to the horizon; it returns whether the
// repair removes it.
func (c *checker) unexpectedMessage(stored store.StoredMessage) bool {
	detail := fmt.Sprintf("message row created %s, last written by event %s, which the journal does not have",
		stored.CreatedAt.Format(time.RFC3339Nano), stored.LastEventID)
	if !c.removable(stored.CreatedAt) {
		c.diff(stored.Number, UnexpectedRow, detail+tooCloseToRemove, false)
		return false
	}
	c.diff(stored.Number, UnexpectedRow, detail, true)
	c.f.repair.Messages = append(c.f.repair.Messages, store.MessageFix{Number: stored.Number, RowFix: store.RowFix{
		Op: store.RepairRemove, Seen: &stored.StoredRow, SeenBody: stored.Body}})
	return true
}

// unexpectedChat reports a chat row no event created. A repair removes it
// only together with all its message rows.
func (c *checker) unexpectedChat(removed int) {
	row := c.h.Chat
	detail := fmt.Sprintf("chat row created %s, last written by event %s; the journal has no chat.create for it",
		row.CreatedAt.Format(time.RFC3339Nano), row.LastEventID)
	switch {
	case !c.removable(row.CreatedAt):
		c.diff(0, UnexpectedRow, detail+tooCloseToRemove, false)
	case removed != len(c.h.Messages):
		c.diff(0, UnexpectedRow, detail+"; it keeps message rows a repair does not remove, so a repair leaves it", false)
	default:
		c.diff(0, UnexpectedRow, detail, true)
		c.f.repair.Chat = &store.RowFix{Op: store.RepairRemove, Seen: row}
	}
}

const tooCloseToRemove = "; created too close to the journal's horizon for a repair to remove it (clocks may disagree)"

// compare returns the kinds of difference between the expected row exp and
// the stored one: none (an empty, non-nil slice) when they agree, nil when
// the stored row was last written by an event the journal no longer holds.
func compare(exp *row, stored store.StoredRow, body string, ids map[string]bool, trimmed func(time.Time) bool) []Kind {
	kinds := []Kind{}
	storedDeleted := stored.DeletedAt != nil
	switch {
	case !exp.deleted() && !ids[stored.LastEventID] && trimmed(stored.EventTime):
		return nil
	case exp.deleted() != storedDeleted:
		kinds = append(kinds, DeletedMismatch)
	case exp.deleted():
	default:
		if body != exp.body {
			kinds = append(kinds, BodyMismatch)
		}
		if stored.LastEventID != exp.last.EventID || !stored.EventTime.Equal(exp.last.EventTime) || stored.Stream != exp.last.Stream {
			kinds = append(kinds, LastEventMismatch)
		}
	}
	return kinds
}

func fixOf(exp *row, op store.RepairOp, seen *store.StoredRow, seenBody string) store.RowFix {
	return store.RowFix{Op: op, Seen: seen, SeenBody: seenBody, Body: exp.body, CreateEventID: exp.creator,
		LastEventID: exp.last.EventID, EventTime: exp.last.EventTime, Stream: exp.last.Stream, CreatedAt: exp.createdAt, DeletedAt: exp.deletedAt}
}

// detail describes a difference without quoting a message body.
func detail(k Kind, exp *row, stored store.StoredRow, body string) string {
	ts := func(t time.Time) string { return t.Format(time.RFC3339Nano) }
	switch k {
	case DeletedMismatch:
		if exp.deleted() {
			return fmt.Sprintf("row is live; the replay deleted it at %s", ts(*exp.deletedAt))
		}
		return fmt.Sprintf("row was deleted at %s; the replay has it live, last written by event %s", ts(*stored.DeletedAt), exp.last.EventID)
	case BodyMismatch:
		return fmt.Sprintf("body of %d bytes differs from the %d bytes of event %s", len(body), len(exp.body), exp.last.EventID)
	case LastEventMismatch:
		d := fmt.Sprintf("row last written by event %s at %s; the replay by event %s at %s",
			stored.LastEventID, ts(stored.EventTime), exp.last.EventID, ts(exp.last.EventTime))
		if stored.Stream != exp.last.Stream {
			d += fmt.Sprintf(" (stream position %s; the replay's %s)", stored.Stream, exp.last.Stream)
		}
		return d
	}
	return string(k)
}
