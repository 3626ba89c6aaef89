package queue

import "context"

// BuryRaw moves a job that does not even decode to partition p's dead list
// exactly as it was queued, so it can be inspected.
func (q *Queue) BuryRaw(ctx context.Context, p int, raw string) error {
	return q.bury(ctx, p, raw)
}
