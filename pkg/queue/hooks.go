package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

// What the webhook deliveries keep beside their lane (Keys.Hooks): each
// application's recent deliveries, for its admins, and each endpoint's run
// of failures, from which the writers pause an endpoint that keeps failing.
// Both live in the application's partition, the slot of its lane.

// HookDeliveriesCap is how many recent deliveries each application keeps.
const HookDeliveriesCap = 100

// HookDeliveriesTTL is how long an application's list outlives its last
// delivery, so the list of an application that stopped (or was deleted)
// does not stay forever.
const HookDeliveriesTTL = 30 * 24 * time.Hour

// HookExcerptMax bounds the response excerpt a delivery record keeps, in
// bytes: never more of a receiver's answer than that is stored.
const HookExcerptMax = 256

// HookDeliveries is the list of application app's recent webhook
// deliveries, newest first (at most HookDeliveriesCap).
func (k Keys) HookDeliveries(app string) string {
	return k.Hooks().base(k.Partition(app)) + "app:" + app + ":deliveries"
}

// HookFailures is the hash that tracks the current run of failed deliveries
// to endpoint (a webhook id) of application app: how many (n), since when
// (first, Unix ms), the last error (last). A success deletes it.
func (k Keys) HookFailures(app, endpoint string) string {
	return k.Hooks().base(k.Partition(app)) + "endpoint:" + endpoint + ":failures"
}

// HookDelivery is one attempt to deliver an event to a webhook endpoint, or
// the decision not to attempt it, as the application's admins see it. It
// names the application by nothing: the list is the application's own.
type HookDelivery struct {
	ID       string `json:"id"`       // delivery id (Envelope.Ref), the X-InstaChat-Delivery header
	Endpoint string `json:"endpoint"` // webhook id
	Event    string `json:"event"`    // event type, such as "message.created"
	Position string `json:"position"` // the event's "<gen>-<seq>" position
	Attempt  int    `json:"attempt"`  // 1 for the first
	// Outcome is the attempt's kind (ok, http_error, timeout, connect,
	// forbidden, tls), or dropped (the endpoint no longer exists or no
	// longer wants the event) or dead (the endpoint is paused) when no
	// attempt was made.
	Outcome    string `json:"outcome"`
	Status     int    `json:"status,omitempty"` // HTTP status; 0 when none came
	DurationMS int64  `json:"duration_ms"`
	At         int64  `json:"at"`                // when it concluded, Unix microseconds
	Excerpt    string `json:"excerpt,omitempty"` // start of the answer, at most HookExcerptMax bytes
	Error      string `json:"error,omitempty"`
	// Next is what became of the delivery: "retry", "dead", or "" when it
	// is done (delivered or dropped).
	Next string `json:"next,omitempty"`
}

// Time returns when the delivery concluded.
func (d HookDelivery) Time() time.Time { return time.UnixMicro(d.At).UTC() }

// RecordHookDelivery adds d to application app's recent deliveries (filling
// in At when zero, cutting the excerpt to HookExcerptMax bytes) and keeps
// the newest HookDeliveriesCap, in one round trip. It is for display and
// never decides anything.
func (q *Queue) RecordHookDelivery(ctx context.Context, app string, d HookDelivery, now time.Time) error {
	if d.At == 0 {
		d.At = now.UnixMicro()
	}
	d.Excerpt = cutUTF8(d.Excerpt, HookExcerptMax)
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode delivery %s: %w", d.ID, err)
	}
	key := q.keys.HookDeliveries(app)
	pipe := q.rdb.TxPipeline()
	pipe.LPush(ctx, key, string(b))
	pipe.LTrim(ctx, key, 0, HookDeliveriesCap-1)
	pipe.PExpire(ctx, key, HookDeliveriesTTL)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("record delivery %s: %w", d.ID, err)
	}
	return nil
}

// HookDeliveries returns up to limit of application app's recent webhook
// deliveries (app is its token digest), newest first; entries that do not
// decode are skipped. Any Inspector reads them, whatever its lane.
func (in *Inspector) HookDeliveries(ctx context.Context, app string, limit int) ([]HookDelivery, error) {
	out := []HookDelivery{}
	if limit <= 0 {
		return out, nil
	}
	limit = min(limit, HookDeliveriesCap)
	raws, err := in.rdb.LRange(ctx, in.keys.HookDeliveries(app), 0, int64(limit)-1).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, redisErr("read recent webhook deliveries", err)
	}
	for _, raw := range raws {
		var d HookDelivery
		if json.Unmarshal([]byte(raw), &d) == nil && d.ID != "" {
			out = append(out, d)
		}
	}
	return out, nil
}

// cutUTF8 returns s cut to at most n bytes without splitting a character.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 {
		r, size := utf8.DecodeLastRuneInString(s)
		if r != utf8.RuneError || size > 1 {
			break
		}
		s = s[:len(s)-1] // a character cut at the end
	}
	return strings.ToValidUTF8(s, "")
}
