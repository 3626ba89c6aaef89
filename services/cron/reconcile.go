package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/instachat/instachat/pkg/config"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/services/cron/internal/reconcile"
)

const reconcileUsage = `usage: cron reconcile [-app TOKEN | -app-id N] [-chat N] [-partitions P] [-partition I] [-repair] [-json]

Replays the event journal chat by chat and compares the result with the chat
and message rows in MySQL.
  -app TOKEN      one application, by its token
  -app-id N       one application, by internal id (0, the default: all)
  -chat N         one chat number of -app or -app-id (0, the default: all)
  -partitions P   split the pass by CRC32("<app id>:<chat>") mod P (default 1)
  -partition I    check partition I only (-1, the default: all in turn)
  -repair         write the replayed state where MySQL differs
  -json           print the report as JSON

Exit status: 0 clean, 3 differences found (with -repair too: run again to
confirm the fix), 1 error.`

// Exit statuses of cron reconcile.
const (
	reconcileClean       = 0
	reconcileFailed      = 1
	reconcileDifferences = 3
)

// reconcileMain runs `cron reconcile …` and returns the process's exit
// status, which tells scripts whether MySQL matched the journal.
func reconcileMain(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	opts, token, asJSON, err := reconcileFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, reconcileUsage)
		return reconcileClean
	}
	if err != nil {
		fmt.Fprintf(stderr, "cron reconcile: %v\n%s\n", err, reconcileUsage)
		return reconcileFailed
	}
	env := config.NewEnv(getenv)
	common := config.ReadCommon(env, "cron")
	if err := env.Err(); err != nil {
		fmt.Fprintln(stderr, "cron reconcile:", err)
		return reconcileFailed
	}
	printTarget(stderr, common)
	st, err := store.Open(ctx, common.Store)
	if err != nil {
		fmt.Fprintln(stderr, "cron reconcile:", err)
		return reconcileFailed
	}
	defer st.Close()
	if token != "" {
		// Ids never leave the service: an operator knows the token.
		ref, err := st.Application(ctx, token)
		if err != nil {
			fmt.Fprintln(stderr, "cron reconcile: -app:", err)
			return reconcileFailed
		}
		opts.AppID = ref.ID
	}
	return reconcileRun(ctx, st, opts, asJSON, stdout, stderr)
}

// reconcileRun runs the pass and prints its report.
func reconcileRun(ctx context.Context, st *store.Store, opts reconcile.Options, asJSON bool, stdout, stderr io.Writer) int {
	rep, err := reconcile.Run(ctx, st, opts)
	if err != nil {
		// What was checked before the error is still worth seeing.
		if rep.ChatsChecked > 0 {
			fmt.Fprint(stderr, rep.String())
		}
		fmt.Fprintln(stderr, "cron reconcile:", err)
		return reconcileFailed
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintln(stderr, "cron reconcile:", err)
			return reconcileFailed
		}
	} else {
		fmt.Fprint(stdout, rep.String())
	}
	if !rep.Clean() {
		return reconcileDifferences
	}
	return reconcileClean
}

// reconcileFlags parses the command line; token is -app's, resolved to
// opts.AppID once MySQL is open.
func reconcileFlags(args []string) (opts reconcile.Options, token string, asJSON bool, err error) {
	fs := flag.NewFlagSet("cron reconcile", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&token, "app", "", "application token")
	fs.Int64Var(&opts.AppID, "app-id", 0, "application id, 0 for all")
	fs.Int64Var(&opts.Chat, "chat", 0, "chat number, 0 for all")
	fs.IntVar(&opts.Partitions, "partitions", 1, "partitions of a full pass")
	fs.IntVar(&opts.Partition, "partition", -1, "partition to check, -1 for all")
	fs.BoolVar(&opts.Repair, "repair", false, "write the replayed state where MySQL differs")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return opts, "", false, err
	}
	if fs.NArg() > 0 {
		return opts, "", false, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case token != "" && opts.AppID != 0:
		return opts, "", false, errors.New("-app and -app-id name the same thing: give one")
	case opts.Chat != 0 && opts.AppID == 0 && token == "":
		return opts, "", false, errors.New("-chat needs -app (or -app-id)")
	case opts.Partitions < 1:
		return opts, "", false, fmt.Errorf("-partitions %d: must be at least 1", opts.Partitions)
	case opts.Partition < -1 || opts.Partition >= opts.Partitions:
		return opts, "", false, fmt.Errorf("-partition %d: must be -1 (all) or 0 to %d", opts.Partition, opts.Partitions-1)
	}
	return opts, token, asJSON, nil
}
