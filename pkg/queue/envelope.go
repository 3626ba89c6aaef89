package queue

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Job types. Adding a type means adding a writer handler for it.
const (
	TypeChatCreate    = "chat.create"
	TypeMessageCreate = "message.create"
	TypeMessageUpdate = "message.update"
	TypeMessageDelete = "message.delete"
	TypeChatDelete    = "chat.delete"
)

// Envelope is one queued job: enough to apply it without asking the api, to
// recognise a duplicate, and to trace it end to end.
type Envelope struct {
	ID      string `json:"id"`               // unique event id
	Type    string `json:"type"`             // one of the Type constants
	App     string `json:"app"`              // chat.TokenDigest of the application token, never the token
	Body    string `json:"body,omitempty"`   // message body for message.* jobs
	Time    int64  `json:"time"`             // when the api accepted it, Unix microseconds
	Attempt int    `json:"attempt"`          // deliveries that failed so far
	Parked  int    `json:"parked,omitempty"` // times it waited for a parent row
	Trace   string `json:"trace,omitempty"`
	Error   string `json:"error,omitempty"` // last error, set on retry and dead jobs
	// Dead says why a dead job is dead when it is more than a failure:
	// DeadNumberConflict. Empty otherwise.
	Dead string `json:"dead,omitempty"`
	// Origin is the event a renumbered create replaces: that create found
	// its number taken, and this one carries its content under a new number.
	Origin  string `json:"origin,omitempty"`
	Chat    int64  `json:"chat"`    // chat number
	Message int64  `json:"message"` // message number (0 for chat jobs)
	// SV is the version of the application's settings the api accepted the
	// job under (package settings): whoever handles it uses those settings
	// or newer ones. 0 for jobs from before settings.
	SV int64 `json:"sv,omitempty"`
	// Ev is the job's position in its partition's event stream
	// ("<generation>-<sequence>", package events), spliced in by the Lua step
	// that accepted it; empty when encoded by the api, and on jobs accepted
	// before events existed.
	Ev string `json:"ev,omitempty"`
	// Hook is the webhook endpoint a delivery job (on the hooks lane,
	// Keys.Hooks) goes to, spliced in after Ev by the step that queued it;
	// empty on every other job.
	Hook string `json:"hook,omitempty"`
}

// Ref names a job on its lane: its event id, and for a webhook delivery the
// endpoint too (one event has a delivery per endpoint).
func (e Envelope) Ref() string {
	if e.Hook == "" {
		return e.ID
	}
	return e.ID + "." + e.Hook
}

// DeadNumberConflict marks a create the writer refused because its number
// already held a row that another event created (a number handed out twice
// after Redis went back in time). The job is kept whole; replaying it gives
// it a new number (see Renumberer).
const DeadNumberConflict = "number_conflict"

// AcceptedAt returns the event time as a time.Time.
func (e Envelope) AcceptedAt() time.Time { return time.UnixMicro(e.Time).UTC() }

// NewEventID returns a random 128-bit event id, hex-encoded, that sorts by
// creation time at millisecond resolution (48-bit time prefix, like UUIDv7).
func NewEventID(now time.Time) string {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// Decode parses a queued job.
func Decode(raw string) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		return Envelope{}, fmt.Errorf("decode job: %w", err)
	}
	if e.ID == "" || e.Type == "" || e.App == "" {
		return Envelope{}, fmt.Errorf("decode job: missing id, type or app")
	}
	return e, nil
}

// Encode serialises a job.
func (e Envelope) Encode() (string, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return "", fmt.Errorf("encode job %s: %w", e.ID, err)
	}
	return string(b), nil
}

// placeholder stands in for a number that a Lua script fills in. A negative
// number can never be a real chat or message number, and the quoted key before
// it cannot occur inside a JSON string, so the split below is unambiguous.
const placeholder = -4242424242

// Template encodes e with the field named field ("chat" or "message") left
// open: the job is prefix + number + suffix. The counter scripts fill in the
// number they assign inside the same atomic step that pushes the job.
func (e Envelope) Template(field string) (prefix, suffix string, err error) {
	switch field {
	case "chat":
		e.Chat = placeholder
	case "message":
		e.Message = placeholder
	default:
		return "", "", fmt.Errorf("template: unknown field %q", field)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return "", "", fmt.Errorf("encode job %s: %w", e.ID, err)
	}
	marker := []byte(fmt.Sprintf("%q:%d", field, placeholder))
	i := bytes.Index(b, marker)
	if i < 0 {
		return "", "", fmt.Errorf("template: marker for %q not found", field)
	}
	cut := i + len(marker) - len(fmt.Sprint(placeholder))
	return string(b[:cut]), string(b[i+len(marker):]), nil
}
