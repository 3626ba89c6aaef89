package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/instachat/instachat/pkg/config"
	"github.com/instachat/instachat/pkg/counter"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/store"
)

const deadUsage = `usage: cron dead [-lane jobs|hooks] list [-partition N] [-offset N] [-limit N]
       cron dead [-lane jobs|hooks] replay ID | -all [-partition N]
       cron dead [-lane jobs|hooks] discard ID | -all [-partition N]

-lane    the queue lane, before the command: jobs (the writer's jobs, the default)
         or hooks (webhook deliveries, each named <event id>.<webhook id>)
list     show dead jobs, newest first (partition -1, the default, means all)
replay   queue a dead job again with its attempts reset (-all: every job that decodes)
discard  delete a dead job for good (-all: every dead job)`

// Lanes of the queue that `cron dead -lane` names (queue.Keys.Lane).
const (
	laneJobs  = "jobs"
	laneHooks = "hooks"
)

// deadMain runs `cron dead …` with the common settings. The dead-letter
// tooling needs Redis only: it works while MySQL is down, except for
// replaying a number conflict (jobs lane), whose new number may need its
// counter seeded from MySQL.
func deadMain(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	lane, args, err := parseLane(args)
	if err != nil {
		return err
	}
	env := config.NewEnv(getenv)
	common := config.ReadCommon(env, "cron")
	if err := env.Err(); err != nil {
		return err
	}
	printTarget(stderr, common)
	rdb := common.RedisClient()
	defer rdb.Close()
	if lane == laneHooks {
		// Deliveries are never renumbered: no MySQL needed.
		return runDead(ctx, queue.NewInspector(rdb, common.Keys().Hooks()), args, stdout, time.Now())
	}
	in := queue.NewInspector(rdb, common.Keys())
	if st, err := store.Open(ctx, common.Store); err != nil {
		fmt.Fprintln(stdout, "cron dead: MySQL is unavailable, so number conflicts cannot be replayed now:", err)
	} else {
		defer st.Close()
		in.WithRenumberer(counter.New(rdb, common.Keys(), st, common.Counter))
	}
	return runDead(ctx, in, args, stdout, time.Now())
}

// parseLane reads the -lane flag that may come before the dead command and
// returns the lane (jobs unless given) and the arguments after it.
func parseLane(args []string) (string, []string, error) {
	fs := newFlags("dead")
	lane := fs.String("lane", laneJobs, "queue lane: jobs or hooks")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return laneJobs, []string{"help"}, nil
		}
		return "", nil, fmt.Errorf("dead: %w\n%s", err, deadUsage)
	}
	if *lane != laneJobs && *lane != laneHooks {
		return "", nil, fmt.Errorf("dead: -lane %q: want jobs (the writer's jobs) or hooks (webhook deliveries)\n%s", *lane, deadUsage)
	}
	return *lane, fs.Args(), nil
}

// runDead runs `cron dead …`: the dead-letter tooling, which needs Redis only.
func runDead(ctx context.Context, in *queue.Inspector, args []string, out io.Writer, now time.Time) error {
	if len(args) == 0 {
		return errors.New(deadUsage)
	}
	switch args[0] {
	case "list":
		return deadList(ctx, in, args[1:], out, now)
	case "replay":
		return deadReplay(ctx, in, args[1:], out)
	case "discard":
		return deadDiscard(ctx, in, args[1:], out)
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(out, deadUsage)
		return nil
	}
	return fmt.Errorf("unknown dead command %q\n%s", args[0], deadUsage)
}

// newFlags returns a flag set that reports errors to the caller instead of
// printing them.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// partitionFlag reads -partition through the inspector, which refuses a
// partition the queue does not have (-1, the default, is all).
func partitionFlag(in *queue.Inspector, raw string) (int, error) {
	p, err := in.ParsePartition(raw)
	if err != nil {
		return 0, fmt.Errorf("-partition %s: %w\n%s", raw, err, deadUsage)
	}
	return p, nil
}

// deadList prints one page of dead jobs as a table. It never prints a job's
// raw content, which for a job that does not decode could hold anything.
func deadList(ctx context.Context, in *queue.Inspector, args []string, out io.Writer, now time.Time) error {
	fs := newFlags("dead list")
	partitionArg := fs.String("partition", "-1", "partition to list, -1 for all")
	offset := fs.Int("offset", 0, "jobs to skip")
	limit := fs.Int("limit", 50, "jobs to show")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("dead list: %w\n%s", err, deadUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("dead list: unexpected argument %q\n%s", fs.Arg(0), deadUsage)
	}
	if *offset < 0 || *limit < 1 {
		return fmt.Errorf("dead list: -offset must be at least 0 and -limit at least 1\n%s", deadUsage)
	}
	partition, err := partitionFlag(in, *partitionArg)
	if err != nil {
		return err
	}
	jobs, total, err := in.Dead(ctx, partition, *offset, *limit)
	if err != nil {
		return fmt.Errorf("list dead jobs: %w", err)
	}
	if len(jobs) == 0 {
		fmt.Fprintf(out, "no dead jobs to show (%d in total)\n", total)
		return nil
	}
	// A webhook delivery also names its endpoint and its event's position
	// (the X-InstaChat-Event-Position the receiver sees).
	hooks := in.Keys().Lane() == laneHooks
	extra, noExtra, what := "", "", "jobs"
	if hooks {
		extra, noExtra, what = "\tENDPOINT\tPOSITION", "\t-\t-", "deliveries"
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tID\tTYPE\tCHAT\tMESSAGE"+extra+"\tATTEMPT\tAGE\tLAST ERROR")
	for _, j := range jobs {
		if !j.Decoded {
			fmt.Fprintf(tw, "%d\t%s\t(undecodable)\t-\t-"+noExtra+"\t-\t-\tdoes not decode as a job (%d bytes); discard it\n", j.Partition, j.ID, len(j.Raw))
			continue
		}
		e := j.Envelope
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s", j.Partition, j.ID, e.Type, e.Chat, messageColumn(e.Message))
		if hooks {
			fmt.Fprintf(tw, "\t%s\t%s", orDash(e.Hook), orDash(e.Ev))
		}
		fmt.Fprintf(tw, "\t%d\t%s\t%s\n", e.Attempt, age(now.Sub(e.AcceptedAt())), oneLine(e.Error, 100))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write dead %s: %w", what, err)
	}
	fmt.Fprintf(out, "%d–%d of %d dead %s; age is since the api accepted the event\n", *offset+1, *offset+len(jobs), total, what)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func messageColumn(n int64) string {
	if n == 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10)
}

// age prints a duration in its largest units: 42s, 7m, 3h05m, 2d04h.
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

// oneLine keeps a table row on one line, cutting s at n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// deadTarget is what replay and discard act on: one id, or every job of a
// partition (-1: all partitions).
type deadTarget struct {
	id        string
	all       bool
	partition int
}

func parseTarget(in *queue.Inspector, cmd string, args []string) (deadTarget, error) {
	fs := newFlags("dead " + cmd)
	all := fs.Bool("all", false, "every dead job")
	partitionArg := fs.String("partition", "-1", "with -all: only this partition")
	if err := fs.Parse(args); err != nil {
		return deadTarget{}, fmt.Errorf("dead %s: %w\n%s", cmd, err, deadUsage)
	}
	partition, err := partitionFlag(in, *partitionArg)
	if err != nil {
		return deadTarget{}, err
	}
	t := deadTarget{all: *all, partition: partition}
	switch {
	case t.all && fs.NArg() > 0:
		return deadTarget{}, fmt.Errorf("dead %s: give an ID or -all, not both\n%s", cmd, deadUsage)
	case !t.all && fs.NArg() != 1:
		return deadTarget{}, fmt.Errorf("dead %s: give one job ID (from `cron dead list`) or -all\n%s", cmd, deadUsage)
	case !t.all && t.partition != -1:
		return deadTarget{}, fmt.Errorf("dead %s: -partition goes with -all only\n%s", cmd, deadUsage)
	}
	if !t.all {
		t.id = fs.Arg(0)
	}
	return t, nil
}

// deadReplay queues one dead job, or all that decode, again.
func deadReplay(ctx context.Context, in *queue.Inspector, args []string, out io.Writer) error {
	t, err := parseTarget(in, "replay", args)
	if err != nil {
		return err
	}
	if !t.all {
		if err := in.ReplayDead(ctx, t.id); err != nil {
			return fmt.Errorf("replay %s: %w%s", t.id, err, listHint(err))
		}
		fmt.Fprintf(out, "replayed %s: it is queued again with its attempts reset\n", t.id)
		return nil
	}
	n, err := in.ReplayAllDead(ctx, t.partition)
	if err != nil {
		return fmt.Errorf("replay dead jobs (%d replayed before the error): %w", n, err)
	}
	_, left, err := in.Dead(ctx, t.partition, 0, 0)
	if err != nil {
		return fmt.Errorf("count dead jobs left: %w", err)
	}
	fmt.Fprintf(out, "replayed %d dead jobs\n", n)
	if left > 0 {
		fmt.Fprintf(out, "%d dead jobs remain: they do not decode (or died meanwhile); inspect them with `cron dead list` and discard them\n", left)
	}
	return nil
}

// deadDiscard deletes one dead job, or all of them.
func deadDiscard(ctx context.Context, in *queue.Inspector, args []string, out io.Writer) error {
	t, err := parseTarget(in, "discard", args)
	if err != nil {
		return err
	}
	if !t.all {
		if err := in.DiscardDead(ctx, t.id); err != nil {
			return fmt.Errorf("discard %s: %w%s", t.id, err, listHint(err))
		}
		fmt.Fprintf(out, "discarded %s\n", t.id)
		return nil
	}
	n, err := in.DiscardAllDead(ctx, t.partition)
	if err != nil {
		return fmt.Errorf("discard dead jobs (%d discarded before the error): %w", n, err)
	}
	fmt.Fprintf(out, "discarded %d dead jobs\n", n)
	return nil
}

// listHint points at `cron dead list` when the id named no dead job.
func listHint(err error) string {
	if errors.Is(err, queue.ErrNoDeadJob) {
		return " (see `cron dead list`)"
	}
	return ""
}
