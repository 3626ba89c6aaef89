package live

import (
	"context"
	"sync"
	"time"

	"github.com/instachat/instachat/pkg/events"
)

// watermarkPoll is how often the tracker reads each partition's journal.
const watermarkPoll = 250 * time.Millisecond

// mark is what the journal holds of one partition's current generation
// (design §2.1 item 3 and §2.5), as of the tracker's last read:
//   - strict (Wstrict): every sequence in base..strict is journaled with a
//     final outcome, so the journal replays any range inside it exactly;
//   - settled (Wsettled): every sequence in 1..settled is journaled, except
//     holes the tracker saw block it for the settle time (a job stuck in
//     retry must not hold back every list of the partition), so a list read
//     after it shows the effect of every event up to it.
//
// base is the oldest sequence the journal held when the tracker first found
// one: below it the journal was purged, or had not caught up yet; either
// way it does not replay what lies there.
type mark struct {
	mu        sync.Mutex
	gen       uint64 // 0: no generation seen yet
	known     bool   // read at least once for gen
	base      uint64 // 0: nothing journaled of gen yet
	strict    uint64
	settled   uint64
	hole      uint64    // the sequence holding settled back, 0 if none
	holeSince time.Time // when the tracker first saw hole hold it back
	failing   bool      // the last read failed (logged once)
}

// watermark returns the partition's settled watermark, and false when the
// tracker has not read the journal of the partition's generation yet.
func (m *mark) watermark() (events.Position, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.known {
		return events.Position{}, false
	}
	return events.Position{Gen: m.gen, Seq: m.settled}, true
}

// covers reports whether the journal replays sequences from..to of gen
// exactly (ok), and whether waiting may make it so (the writer has not
// journaled them all yet).
func (m *mark) covers(gen, from, to uint64) (ok, wait bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.gen != gen:
		return false, m.gen < gen // the tracker has not seen gen yet
	case m.base == 0:
		return false, true
	case m.base > from:
		return false, false
	}
	return m.strict >= to, m.strict < to
}

// track reads the journal of each partition's generation (as the hub's
// readers last saw it) every watermarkPoll until ctx ends.
func (j *journal) track(ctx context.Context, gens func(p int) uint64) {
	t := time.NewTicker(j.poll)
	defer t.Stop()
	for {
		for p, m := range j.marks {
			if err := j.advance(ctx, p, m, gens(p), time.Now()); err != nil && ctx.Err() == nil {
				m.mu.Lock()
				if !m.failing {
					j.log.WarnContext(ctx, "live events: read the journal's watermark; journal replays wait", "partition", p, "err", err)
				}
				m.failing = true
				m.mu.Unlock()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// advance moves partition p's mark over what the journal now holds of gen.
// Only the tracker writes a mark, so it reads the journal without the lock.
func (j *journal) advance(ctx context.Context, p int, m *mark, gen uint64, now time.Time) error {
	if gen == 0 {
		return nil
	}
	m.mu.Lock()
	if m.gen != gen { // a new generation: nothing of it is known
		m.gen, m.known, m.base, m.strict, m.settled, m.hole, m.holeSince = gen, false, 0, 0, 0, 0, time.Time{}
	}
	base, strict, settled, hole, since := m.base, m.strict, m.settled, m.hole, m.holeSince
	m.mu.Unlock()

	if base == 0 {
		first, err := j.st.JournalSeqs(ctx, p, gen, 0, 1)
		if err != nil {
			return err
		}
		if len(first) > 0 {
			base, strict = first[0], first[0]-1
			// A generation older than the settle time whose journal starts
			// after 1 was purged below it (or its first jobs are stuck for
			// that long): lists need not wait for the positions below.
			if base > 1 && now.Sub(time.UnixMilli(int64(gen))) >= j.settle {
				settled = base - 1
			}
		}
	}
	if base != 0 {
		run, next, err := j.scan(ctx, p, gen, strict)
		if err != nil {
			return err
		}
		strict = run
		if settled >= base-1 && settled <= strict {
			settled = strict
			hole, since, err = j.stepSettled(ctx, p, gen, &settled, run, next, hole, since, now)
		} else {
			hole, since, err = j.stepSettled(ctx, p, gen, &settled, 0, 0, hole, since, now)
		}
		if err != nil {
			return err
		}
	}
	m.mu.Lock()
	m.known, m.failing = true, false
	m.base, m.strict, m.settled, m.hole, m.holeSince = base, strict, settled, hole, since
	m.mu.Unlock()
	return nil
}

// stepSettled moves *settled over journaled sequences, stepping over a hole once
// it has held it back for the settle time. run and next are a scan from
// *settled already made (run 0: scan).
func (j *journal) stepSettled(ctx context.Context, p int, gen uint64, settled *uint64, run, next, hole uint64, since, now time.Time) (uint64, time.Time, error) {
	for {
		if run == 0 {
			var err error
			if run, next, err = j.scan(ctx, p, gen, *settled); err != nil {
				return hole, since, err
			}
		}
		*settled = run
		switch {
		case next == 0:
			return 0, time.Time{}, nil // nothing journaled beyond: no hole, only the live edge
		case hole != run+1:
			return run + 1, now, nil // a new hole: time it
		case now.Sub(since) < j.settle:
			return hole, since, nil
		}
		*settled, hole, run = next-1, 0, 0 // stepped over
	}
}

// scan reads the journal of gen after sequence from: run is the end of the
// contiguous run of journaled sequences from from+1 (from if from+1 is
// missing), next the first journaled sequence after the hole that ends it
// (0: none journaled yet).
func (j *journal) scan(ctx context.Context, p int, gen, from uint64) (run, next uint64, err error) {
	run = from
	for {
		seqs, err := j.st.JournalSeqs(ctx, p, gen, run, j.page)
		if err != nil {
			return run, 0, err
		}
		for _, s := range seqs {
			if s != run+1 {
				return run, s, nil
			}
			run = s
		}
		if len(seqs) < j.page {
			return run, 0, nil
		}
	}
}

// scanPage is how many sequences one watermark read returns.
const scanPage = 5000

// newMarks returns one mark per partition.
func newMarks(partitions int) []*mark {
	marks := make([]*mark, partitions)
	for i := range marks {
		marks[i] = &mark{}
	}
	return marks
}
