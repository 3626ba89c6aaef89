package reconcile_test

import (
	"strings"
	"testing"

	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/services/cron/internal/reconcile"
)

// TestNumberConflictsAreNeverClean checks that a history in which a number
// was handed out twice is reported, whether the writer refused the second
// create (journal outcome number_conflict) or, as writers before conflicts
// were detected did, applied it over the first ("newest wins").
func TestNumberConflictsAreNeverClean(t *testing.T) {
	st, _ := env(t)
	a := newWriter(t, st, "A")
	at := clock()
	ev := func(id, typ string, chatN, msg int64, body string, ms int) event {
		return event{id: id, typ: typ, chat: chatN, message: msg, body: body, at: at(ms)}
	}
	a.deliver(ev("c1", chatCreate, 1, 0, "", 1), applied)
	a.deliver(ev("m1", msgCreate, 1, 1, "first one", 10), applied)
	a.deliver(ev("m1-again", msgCreate, 1, 1, "second one", 20), store.OutcomeNumberConflict)
	a.deliver(ev("c1-again", chatCreate, 1, 0, "", 30), store.OutcomeNumberConflict)
	rep := run(t, st, reconcile.Options{Partition: -1})
	if rep.Clean() {
		t.Fatalf("a history with number conflicts was called clean:\n%s", rep)
	}
	wantCounts(t, "differences", rep.Differences, map[reconcile.Kind]int64{reconcile.NumberConflict: 2})
	if text := rep.String(); !strings.Contains(text, "m1-again") || !strings.Contains(text, "c1-again") {
		t.Errorf("report does not name the refused events:\n%s", text)
	}
	// A repair leaves them: renumbering is the dead list's replay, not a
	// repair of rows, and the stored message is right.
	rep = run(t, st, reconcile.Options{Partition: -1, Repair: true})
	wantCounts(t, "fixed", rep.Fixed, nil)
	if m, err := st.Message(t.Context(), a.app, 1, 1); err != nil || m.Body != "first one" {
		t.Errorf("message 1: got %q, %v; want the first body", m.Body, err)
	}

	// A legacy history: both creates of message 2 took effect.
	b := newWriter(t, st, "B")
	b.deliver(ev("b-c1", chatCreate, 1, 0, "", 1), applied)
	b.deliver(ev("b-m2", msgCreate, 1, 2, "first two", 10), applied)
	entry := journalEntry(b.app, ev("b-m2-again", msgCreate, 1, 2, "second two", 20), store.Provenance{}, applied)
	if err := st.JournalOutside(t.Context(), []store.JournalEntry{entry}); err != nil {
		t.Fatal(err)
	}
	rep = run(t, st, reconcile.Options{AppID: b.app, Partition: -1})
	if rep.Differences[reconcile.NumberConflict] != 1 || rep.Clean() {
		t.Errorf("legacy double create: got %s; want one number conflict", rep)
	}
}
