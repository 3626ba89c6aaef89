package queue

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"strconv"
)

// Keys lays out InstaChat's Redis keyspace. Everything that belongs to one
// application lives in one partition, chosen by a hash of the token, and all
// keys of a partition share a hash tag, so every Lua step touches one slot and
// the layout also works on Redis Cluster.
type Keys struct {
	prefix     string
	partitions int
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

// Partition returns the partition that owns an application.
func (k Keys) Partition(token string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(token))
	return int(h.Sum32() % uint32(k.partitions))
}

func (k Keys) base(p int) string { return k.prefix + "{p" + strconv.Itoa(p) + "}:" }

// appID names an application in keys by a digest of its token, so secrets do
// not show up in key names (SLOWLOG, MONITOR, dashboards).
func appID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:12])
}

// ChatCounter holds the highest chat number handed out for an application.
// Its existence also marks the application as known to Redis.
func (k Keys) ChatCounter(token string) string {
	return k.base(k.Partition(token)) + "app:" + appID(token) + ":chats"
}

// ChatsSeeded holds the chat counter's value when it was created (0 for a
// new application, MySQL's highest chat number when re-seeded). Chats above
// it were created with this Redis's counters, so a missing message counter of
// such a chat means "no message yet", not "lost": it starts at 0 without MySQL.
func (k Keys) ChatsSeeded(token string) string {
	return k.base(k.Partition(token)) + "app:" + appID(token) + ":chats:seeded"
}

// MessageCounter holds the highest message number handed out for a chat.
func (k Keys) MessageCounter(token string, chat int64) string {
	return k.base(k.Partition(token)) + "app:" + appID(token) + ":chat:" + strconv.FormatInt(chat, 10) + ":messages"
}

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
