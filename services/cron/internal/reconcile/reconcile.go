// Package reconcile checks MySQL against the event journal. It replays, one
// chat at a time and in memory, the events that took effect, in event order
// with the writer's rules, compares the chat and message rows it expects with
// those in MySQL and reports the differences; with Repair it writes the
// replayed state back. Memory stays bounded by one chat's events.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/store"
)

// Options say which chats a pass checks and whether it repairs them.
type Options struct {
	AppID int64 // one application's internal id; 0: every application
	Chat  int64 // one chat number of AppID; 0: every chat
	// Partitions splits a full pass by CRC32("<application id>:<chat number>")
	// mod Partitions, so several processes can share it; 0 or 1: no split.
	Partitions int
	Partition  int  // the partition to check; -1: every partition in turn
	Repair     bool // write the replayed state where MySQL differs
}

func (o Options) validate() error {
	switch {
	case o.AppID < 0 || o.Chat < 0:
		return fmt.Errorf("application id and chat must not be negative: %w", chat.ErrInvalid)
	case o.Chat != 0 && o.AppID == 0:
		return fmt.Errorf("a chat needs its application id: %w", chat.ErrInvalid)
	case o.Partitions < 0:
		return fmt.Errorf("partitions must not be negative: %w", chat.ErrInvalid)
	case o.Partition < -1 || o.Partition >= max(o.Partitions, 1):
		return fmt.Errorf("partition %d is not -1 (all) or in 0..%d: %w", o.Partition, max(o.Partitions, 1)-1, chat.ErrInvalid)
	}
	return nil
}

// scopes lists the store scopes the pass walks, one after the other.
func (o Options) scopes() []store.ReconcileScope {
	base := store.ReconcileScope{AppID: o.AppID, Chat: o.Chat}
	if o.Partitions <= 1 {
		return []store.ReconcileScope{base}
	}
	if o.Partition >= 0 {
		base.Partitions, base.Partition = o.Partitions, o.Partition
		return []store.ReconcileScope{base}
	}
	out := make([]store.ReconcileScope, o.Partitions)
	for i := range out {
		out[i] = base
		out[i].Partitions, out[i].Partition = o.Partitions, i
	}
	return out
}

func (o Options) scope() string {
	s := "of every application"
	switch {
	case o.Chat != 0:
		s = fmt.Sprintf("of application %d chat %d", o.AppID, o.Chat)
	case o.AppID != 0:
		s = fmt.Sprintf("of application %d", o.AppID)
	}
	switch {
	case o.Partitions > 1 && o.Partition >= 0:
		s += fmt.Sprintf(", partition %d of %d", o.Partition, o.Partitions)
	case o.Partitions > 1:
		s += fmt.Sprintf(", partitions 0..%d in turn", o.Partitions-1)
	}
	return s
}

// keyPage is how many chat keys one listing returns.
const keyPage = 500

// maxChatAttempts bounds how often a chat is checked again when the writer
// changed one of its rows between the check and the repair.
const maxChatAttempts = 3

// Run checks the chats opts names and returns what it found. It stops at
// the first error other than a repair conflict, returning the report so far.
func Run(ctx context.Context, st *store.Store, opts Options) (Report, error) {
	rep := newReport(opts)
	if err := opts.validate(); err != nil {
		return rep, fmt.Errorf("reconcile: %w", err)
	}
	for _, sc := range opts.scopes() {
		var after *store.ChatKey
		for {
			keys, err := st.ReconcileKeys(ctx, sc, after, keyPage)
			if err != nil {
				return rep, fmt.Errorf("reconcile: %w", err)
			}
			for _, k := range keys {
				if err := ctx.Err(); err != nil {
					return rep, fmt.Errorf("reconcile: %w", err)
				}
				if err := checkChat(ctx, st, k, opts.Repair, &rep); err != nil {
					return rep, fmt.Errorf("reconcile: %w", err)
				}
			}
			if len(keys) < keyPage {
				break
			}
			last := keys[len(keys)-1]
			after = &last
		}
	}
	return rep, nil
}

// checkChat checks one chat and, with repair, fixes it. When the writer
// changed a row since the check read it, the repair writes nothing and the
// chat is checked again from a fresh snapshot.
func checkChat(ctx context.Context, st *store.Store, key store.ChatKey, repair bool, rep *Report) error {
	for attempt := 1; ; attempt++ {
		h, err := st.ChatHistory(ctx, key)
		if err != nil {
			return err
		}
		f := check(h)
		if !repair || !f.needsRepair() {
			rep.add(len(h.Events), f, h.NeverApplied, false)
			return nil
		}
		err = st.Repair(ctx, f.repair, time.Now().UTC())
		switch {
		case err == nil:
			rep.add(len(h.Events), f, h.NeverApplied, true)
			return nil
		case !errors.Is(err, chat.ErrConflict):
			return err
		case attempt == maxChatAttempts:
			rep.Conflicts++
			rep.add(len(h.Events), f, h.NeverApplied, false)
			return nil
		}
	}
}
