package queue

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Keys lays out InstaChat's Redis keyspace. Everything that belongs to one
// application lives in one partition, chosen by a hash of its app key, and all
// keys of a partition share a hash tag, so every Lua step touches one slot and
// the layout also works on Redis Cluster.
//
// Applications are named in Redis (keys and jobs) by their app key, a digest of
// the token (chat.TokenDigest), never by the token: a secret must not show up in
// MONITOR, SLOWLOG, queue dumps or the dashboard.
type Keys struct {
	prefix     string
	partitions int
	lane       string // "" for the writer's jobs, "hooks:" for webhook deliveries
}

// NewKeys returns the key layout for a prefix (e.g. "ic:") and a partition
// count. Every service must use the same values.
func NewKeys(prefix string, partitions int) Keys {
	if partitions < 1 {
		partitions = 1
	}
	return Keys{prefix: prefix, partitions: partitions}
}

// Partitions is the number of queue partitions.
func (k Keys) Partitions() int { return k.partitions }

// Partition returns the partition that owns an application, by its app key.
func (k Keys) Partition(app string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(app))
	return int(h.Sum32() % uint32(k.partitions))
}

func (k Keys) base(p int) string { return k.prefix + "{p" + strconv.Itoa(p) + "}:" + k.lane }

// Hooks is the layout of the webhook deliveries' lane: the same reliable
// queue (pending, processing, retry, dead, stats) under "{pN}:hooks:", in
// the partition's slot, so the step that accepts a write queues its
// deliveries atomically. Only the queue's keys are meant to be used from it.
func (k Keys) Hooks() Keys {
	k.lane = "hooks:"
	return k
}

// Lane names the keys' lane: "jobs" or "hooks".
func (k Keys) Lane() string {
	if k.lane == "" {
		return "jobs"
	}
	return strings.TrimSuffix(k.lane, ":")
}

// ChatCounter is an application's chat counter, a hash: n is the highest chat
// number handed out, e the epoch it is valid in (the Redis replication id it
// was checked against, see package counter), s the seed point (n when the
// counter was last seeded: chats above it were created in this epoch, so a
// missing message counter of such a chat means "no message yet", not "lost").
// Its existence also marks the application as known to Redis.
func (k Keys) ChatCounter(app string) string {
	return k.base(k.Partition(app)) + "app:" + app + ":counter"
}

// LegacyChatCounter is where releases before epochs kept the chat counter (a
// plain integer). Seeding reads it once, so an upgrade never hands out a
// number that the old counter had handed out.
func (k Keys) LegacyChatCounter(app string) string {
	return k.base(k.Partition(app)) + "app:" + app + ":chats"
}

// ChatsDeleted is the set of an application's deleted chat numbers: the api
// refuses new messages and changes for them at once, before the writer has
// applied the delete.
func (k Keys) ChatsDeleted(app string) string {
	return k.base(k.Partition(app)) + "app:" + app + ":chats:deleted"
}

// MessagesDeleted is the set of a chat's deleted message numbers.
func (k Keys) MessagesDeleted(app string, chat int64) string {
	return k.base(k.Partition(app)) + "app:" + app + ":chat:" + strconv.FormatInt(chat, 10) + ":deleted"
}

// MessageCounter is a chat's message counter, a hash: n is the highest
// message number handed out, e its epoch (as for ChatCounter).
func (k Keys) MessageCounter(app string, chat int64) string {
	return k.base(k.Partition(app)) + "app:" + app + ":chat:" + strconv.FormatInt(chat, 10) + ":counter"
}

// LegacyMessageCounter is where releases before epochs kept a chat's message
// counter; seeding reads it once.
func (k Keys) LegacyMessageCounter(app string, chat int64) string {
	return k.base(k.Partition(app)) + "app:" + app + ":chat:" + strconv.FormatInt(chat, 10) + ":messages"
}

// Idempotency is the record of one write an application made with an
// Idempotency-Key, named by the key's digest (chat.KeyHash), never the key.
// It lives in the application's partition, the hash slot of its counters and
// its queue, so the Lua step that assigns a number and queues the job also
// writes the record, on Redis Cluster too.
func (k Keys) Idempotency(app, keyHash string) string {
	return k.base(k.Partition(app)) + "app:" + app + ":idem:" + keyHash
}

// Events is partition p's live-event stream (package events): one entry per
// accepted write, id "<generation>-<sequence>", field j the job as queued.
func (k Keys) Events(p int) string { return k.base(p) + "events" }

// EventsMeta is partition p's stream bookkeeping, a hash: e the epoch the
// generation belongs to (as for counters), g the generation, s the last
// sequence handed out.
func (k Keys) EventsMeta(p int) string { return k.base(p) + "events:meta" }

// Pending is the list of jobs waiting for a writer (pushed left, taken right).
func (k Keys) Pending(p int) string { return k.base(p) + "pending" }

// Processing is one consumer's in-flight list.
func (k Keys) Processing(p int, consumer string) string {
	return k.base(p) + "processing:" + consumer
}

// Heartbeat is one consumer's liveness key; it expires when the consumer dies.
func (k Keys) Heartbeat(p int, consumer string) string {
	return k.base(p) + "heartbeat:" + consumer
}

// Consumers is the set of consumer names that own a processing list.
func (k Keys) Consumers(p int) string { return k.base(p) + "consumers" }

// Retry is the sorted set of jobs waiting for another attempt, scored by due time (Unix ms).
func (k Keys) Retry(p int) string { return k.base(p) + "retry" }

// Dead is the list of jobs that exhausted their attempts.
func (k Keys) Dead(p int) string { return k.base(p) + "dead" }

// Stats is a hash of per-partition job counters (processed, failed, …).
func (k Keys) Stats(p int) string { return k.base(p) + "stats" }

// String describes the layout for logs.
func (k Keys) String() string {
	return fmt.Sprintf("keys(prefix=%q, partitions=%d)", k.prefix, k.partitions)
}
