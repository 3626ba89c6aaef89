package queue

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Parking holds events whose parent row does not exist yet (a message before
// its chat, an update or delete before its create). A parked event waits in a
// list per parent; it goes back to the front of its pending list when the
// parent commits (Unpark) or, failing that, after a backoff (PromoteParked).
// Parking never spends the event's retry budget; an event parked more than
// MaxParks times goes to the dead list ("its parent never arrived").

// MaxParks bounds how often one event may wait for its parent (about an hour
// with the backoff of ParkBackoff).
const MaxParks = 20

// ParkBackoff is the wait before a parked event is tried again without its
// parent having committed: 1 s doubling, at most 5 minutes.
func ParkBackoff(parks int) time.Duration {
	d := time.Second << min(parks, 9)
	return min(d, 5*time.Minute)
}

// ParentChat names the parent of events waiting for a chat row.
func ParentChat(app string, chat int64) string {
	return app + ":" + strconv.FormatInt(chat, 10)
}

// ParentMessage names the parent of events waiting for a message row.
func ParentMessage(app string, chat, message int64) string {
	return ParentChat(app, chat) + ":" + strconv.FormatInt(message, 10)
}

// Parked is the list of events of partition p waiting for parent.
func (k Keys) Parked(p int, parent string) string { return k.base(p) + "parked:" + parent }

// ParkedDue is the sorted set of parents with waiting events, scored by when
// they are due for another try (Unix ms).
func (k Keys) ParkedDue(p int) string { return k.base(p) + "parked-due" }

var parkScript = redis.NewScript(`
redis.call('LPUSH', KEYS[1], ARGV[1])
local cur = redis.call('ZSCORE', KEYS[2], ARGV[3])
if not cur or tonumber(ARGV[2]) < tonumber(cur) then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
end
redis.call('HINCRBY', KEYS[3], 'parked', 1)
return 1`)

// Park puts e aside until parent (ParentChat or ParentMessage) commits. It
// reports whether e went to the dead list instead, having waited too often.
func (q *Queue) Park(ctx context.Context, e Envelope, parent string, now time.Time) (dead bool, err error) {
	e.Parked++
	if e.Parked > MaxParks {
		return true, q.Bury(ctx, e, fmt.Errorf("parent %s never arrived after %d waits", parent, MaxParks))
	}
	raw, err := e.Encode()
	if err != nil {
		return false, err
	}
	p := q.keys.Partition(e.App)
	due := now.Add(ParkBackoff(e.Parked)).UnixMilli()
	keys := []string{q.keys.Parked(p, parent), q.keys.ParkedDue(p), q.keys.Stats(p)}
	if err := parkScript.Run(ctx, q.rdb, keys, raw, due, parent).Err(); err != nil {
		return false, fmt.Errorf("park job %s: %w", e.ID, err)
	}
	return false, nil
}

// unparkScript moves the waiting events of each parent (ARGV) that has any to
// the consuming end of the pending list, oldest first. KEYS: due, pending;
// ARGV[1] is the parked-list key prefix.
var unparkScript = redis.NewScript(`
local moved = 0
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    local list = ARGV[1] .. ARGV[i]
    -- newest first onto the consuming end, so the oldest is taken first
    while redis.call('LMOVE', list, KEYS[2], 'LEFT', 'RIGHT') do
      moved = moved + 1
    end
    redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return moved`)

// Unpark sends the events waiting for any of parents (all of partition p)
// back to be applied next. It costs one round trip, and nothing when no
// event waits.
func (q *Queue) Unpark(ctx context.Context, p int, parents []string) (int, error) {
	if len(parents) == 0 {
		return 0, nil
	}
	args := make([]any, 0, len(parents)+1)
	args = append(args, q.keys.Parked(p, ""))
	for _, parent := range parents {
		args = append(args, parent)
	}
	n, err := unparkScript.Run(ctx, q.rdb, []string{q.keys.ParkedDue(p), q.keys.Pending(p)}, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("unpark: %w", err)
	}
	return n, nil
}

// PromoteParked retries parked events whose backoff has passed, in every
// partition, and returns how many moved.
func (q *Queue) PromoteParked(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for p := 0; p < q.keys.Partitions(); p++ {
		due, err := q.rdb.ZRangeByScore(ctx, q.keys.ParkedDue(p), &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: 500}).Result()
		if err != nil {
			return total, fmt.Errorf("read parked parents of partition %d: %w", p, err)
		}
		n, err := q.Unpark(ctx, p, due)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
