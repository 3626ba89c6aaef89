package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/instachat/instachat/pkg/config"
	"github.com/instachat/instachat/pkg/search"
	"github.com/instachat/instachat/pkg/search/bleve"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/pkg/telemetry"
	"github.com/instachat/instachat/services/api/internal/index"
)

// lockWait is how long an offline rebuild waits for bleve's lock: a running
// api holds it for good, so waiting longer only delays the advice.
const lockWait = 300 * time.Millisecond

// rebuild is "api rebuild [-restart] [-batch N]": it fills the configured
// search index from MySQL, resuming an interrupted rebuild unless -restart,
// with a progress bar on stderr. With ADMIN_TOKEN set it first asks the api
// at API_URL to rebuild in its background (POST /admin/index/rebuild) and
// follows it; when no api answers there, it rebuilds here.
func rebuild(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	restart, batch, err := rebuildFlags(args, stderr)
	if err != nil {
		return err
	}
	env := config.NewEnv(getenv)
	common := config.ReadCommon(env, "api")
	engineCfg := readEngineConfig(env)
	if err := env.Err(); err != nil {
		return err
	}
	apiURL := strings.TrimRight(env.String("API_URL", "http://127.0.0.1:8080"), "/")
	adminToken := env.Secret("ADMIN_TOKEN", "the api's admin secret: with it this command asks the running api to rebuild", false)
	if err := env.Err(); err != nil {
		return err
	}
	log := telemetry.NewLogger(stderr, common.Log)

	refused := "" // why an api that answered could not be asked
	if adminToken != "" {
		asked, err := askAPI(ctx, apiURL, adminToken, restart, stdout, stderr)
		var r *refusedError
		switch {
		case errors.As(err, &r):
			refused = r.Error()
		case err != nil || asked:
			return err
		default:
			fmt.Fprintf(stderr, "no api answers at %s: rebuilding here\n", apiURL)
		}
	}
	return rebuildHere(ctx, common.Store, engineCfg, refused, restart, batch, log, stdout, stderr)
}

// rebuildFlags parses rebuild's command line.
func rebuildFlags(args []string, stderr io.Writer) (restart bool, batch int, err error) {
	fs := flag.NewFlagSet("rebuild", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&restart, "restart", false, "start from the first message instead of resuming an interrupted rebuild")
	fs.IntVar(&batch, "batch", 1000, "messages per index call")
	if err := fs.Parse(args); err != nil {
		return false, 0, err
	}
	if fs.NArg() > 0 {
		return false, 0, fmt.Errorf("rebuild: unexpected argument %q\n%s", fs.Arg(0), usage)
	}
	if batch < 1 {
		return false, 0, fmt.Errorf("rebuild: -batch must be at least 1, got %d", batch)
	}
	return restart, batch, nil
}

// rebuildHere opens MySQL and the search index in this process and
// rebuilds the index; refused says why the api could not be asked, for the
// advice when a running api holds the bleve index.
func rebuildHere(ctx context.Context, storeCfg store.Config, engineCfg index.Config, refused string, restart bool, batch int, log *slog.Logger, stdout, stderr io.Writer) error {
	st, err := store.Open(ctx, storeCfg)
	if err != nil {
		return err
	}
	defer st.Close()
	// An Elasticsearch engine that cannot be opened at once keeps trying in
	// the background until its context ends, which must precede Close.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	engineCfg.BleveLockTimeout = lockWait
	engine, ready, err := index.Open(ctx, engineCfg, log)
	if errors.Is(err, bleve.ErrLocked) {
		return lockedError(err, refused)
	}
	if err != nil {
		return fmt.Errorf("open the search index: %w", err)
	}
	defer engine.Close()
	defer cancel()
	select {
	case <-ready:
	default:
		return fmt.Errorf("open the search index: %s is not reachable: %w", engineCfg.Backend, search.ErrUnavailable)
	}
	return fillIndex(ctx, index.New(st, engine, log), engine.Info(), restart, batch, stdout, stderr)
}

// fillIndex sends every message to the index, with a progress bar on
// stderr, and says on stdout how many it sent.
func fillIndex(ctx context.Context, idx *index.Index, info search.Info, restart bool, batch int, stdout, stderr io.Writer) error {
	fmt.Fprintf(stderr, "rebuilding %s index %s from MySQL\n", info.Backend, info.Index)
	bar := newProgressBar(stderr, time.Now, isTerminal(stderr))
	start := time.Now()
	n, err := idx.RebuildIndex(ctx, batch, restart, bar.Update)
	bar.Finish()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w (run it again to resume)", err)
		}
		return err
	}
	fmt.Fprintf(stdout, "index %s rebuilt: %d messages sent in %s\n", info.Index, n, time.Since(start).Round(time.Millisecond))
	return nil
}

// lockedError says what to do when a running api holds the bleve index and
// could not be asked to rebuild it (refused says why, when it answered).
func lockedError(err error, refused string) error {
	how := "set ADMIN_TOKEN (and API_URL) as the api has them and run this again, so the api rebuilds it"
	if refused != "" {
		how = refused + "; fix that and run this again, so the api rebuilds it"
	}
	return fmt.Errorf("open the search index: %w: a running api holds it: %s; or stop the api first (it holds the bleve index) or use Elasticsearch", err, how)
}
