// Command cron runs InstaChat's scheduled maintenance of MySQL: the counter
// sync (chats_count and messages_count, hourly by default) and the purge of
// the event journal, on robfig/cron schedules (`cron serve`). Its other
// commands run one job once or operate on the data: `cron sync`, `cron
// purge`, `cron requeue`, `cron reconcile`, `cron dead …`. The queue's own
// upkeep (retries, parked jobs, jobs of dead writers) belongs to the writers;
// docs/architecture.md names the owner of each job.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// runFunc runs one command with its arguments and returns the process's exit
// status.
type runFunc func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int

// command is one `cron <name>`: the usage text, help and dispatch all come
// from the table below.
type command struct {
	name    string
	args    string // the arguments, for the usage text
	summary string
	run     runFunc
}

// commands returns the one table of cron's commands. (A function, not a
// variable, because the commands print the usage that lists them.)
func commands() []command {
	return []command{
		{"serve", "", "run the schedules (counter sync, journal purge) and the health server until stopped", withError(serve)},
		{"sync", "", "set chats_count and messages_count from the rows in MySQL, now", oneJob("sync", (*jobs).sync)},
		{"purge", "", "delete journal entries older than JOURNAL_RETENTION, now", oneJob("purge", (*jobs).purge)},
		{"requeue", "", "move the jobs of dead writers back to their queues, now (the writers do it every QUEUE_HEARTBEAT_TTL/2)", oneJob("requeue", (*jobs).requeue)},
		{"reconcile", "[flags]", "replay the event journal and compare it with MySQL (exit 3: differences; cron reconcile -h)", reconcileMain},
		{"dead", "[-lane hooks] list|replay|discard …", "list, replay or discard dead jobs, or dead webhook deliveries (cron dead help)", withError(deadMain)},
	}
}

// Exit statuses shared by every command (reconcile adds 3: differences).
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// usage lists the commands from the table.
func usage() string {
	rows := [][2]string{}
	for _, c := range commands() {
		rows = append(rows, [2]string{strings.TrimSpace(c.name + " " + c.args), c.summary})
	}
	rows = append(rows, [2]string{"help", "print this text"})
	width := 0
	for _, r := range rows {
		width = max(width, len([]rune(r[0])))
	}
	var b strings.Builder
	b.WriteString("usage: cron <command> [arguments]\n\nCommands:\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "  %s%s  %s\n", r[0], strings.Repeat(" ", width-len([]rune(r[0]))), r[1])
	}
	b.WriteString("\n")
	b.WriteString("Settings come from the environment (README.md, Configuration); every command\n")
	b.WriteString("prints the database and key prefix it works on to stderr first.")
	return b.String()
}

// dispatch runs the command args name. Without one it prints the usage and
// fails: starting the service takes an explicit `cron serve`.
func dispatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage())
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(stdout, usage())
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], getenv, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "cron: unknown command %q\n%s\n", args[0], usage())
	return exitUsage
}

// withError adapts a command that returns an error: the error is printed
// once, here, and the status is 1.
func withError(f func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error) runFunc {
	return func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
		if err := f(ctx, args, getenv, stdout, stderr); err != nil {
			fmt.Fprintln(stderr, "cron:", err)
			return exitError
		}
		return exitOK
	}
}
