package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"time"
)

// profiles captures profiles of the running services while a phase runs
// and keeps each one's top functions for the report. The excerpts are made
// in wait, once the phase is over: `go tool pprof` symbolizing a binary
// takes a core for a second or two, and run as each profile ended it showed
// as a latency spike in the phase it profiled.
type profiles struct {
	mu      sync.Mutex
	tops    map[string]profileTop // tag (the service's name unless told) → its excerpt
	pending []func()              // excerpts to make in wait
	wg      sync.WaitGroup
}

// profileTop is one profile taken: whose, of what, where it went and the
// `go tool pprof -top` excerpt.
type profileTop struct {
	bin  string // the binary pprof reads symbols from, relative to the repository root
	file string // the profile's file name in the profiles directory
	what string // "CPU, 20s, during …", "heap in use, …"
	top  string
}

// capture starts CPU profiles of names after delay, each lasting d, written
// into dir as <base>-<name>.pprof. wait blocks until they are written.
func (p *profiles) capture(ctx context.Context, sys *system, names []string, delay, d time.Duration, dir, base string, log io.Writer) {
	for _, name := range names {
		p.captureAs(ctx, sys, name, name, fmt.Sprintf("CPU, %v, during the measured phase", d), delay, d, dir, base, log)
	}
}

// captureAs starts one CPU profile of service name after delay, lasting d,
// kept under tag (<base>-<tag>.pprof) and described by what.
func (p *profiles) captureAs(ctx context.Context, sys *system, name, tag, what string, delay, d time.Duration, dir, base string, log io.Writer) {
	if d <= 0 {
		return
	}
	p.wg.Go(func() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		query := fmt.Sprintf("profile?seconds=%d", int(d.Seconds()))
		p.take(ctx, sys, name, tag, what, query, d, nil, dir, base, log)
	})
}

// heap takes a heap profile (in-use space, after a GC) of service name now.
func (p *profiles) heap(ctx context.Context, sys *system, name, tag, what, dir, base string, log io.Writer) {
	p.take(ctx, sys, name, tag, what, "heap?gc=1", 0, []string{"-sample_index=inuse_space"}, dir, base, log)
}

// take fetches /debug/pprof/<query> from service name into <base>-<tag>.pprof
// and keeps its top functions.
func (p *profiles) take(ctx context.Context, sys *system, name, tag, what, query string, d time.Duration, pprofArgs []string, dir, base string, log io.Writer) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintf(log, "profile %s: %v\n", tag, err)
		return
	}
	file := base + "-" + tag + ".pprof"
	path := filepath.Join(dir, file)
	if err := sys.fetchProfile(ctx, name, query, d, path); err != nil {
		fmt.Fprintf(log, "profile %s: %v\n", tag, err)
		return
	}
	p.keep(ctx, tag, filepath.Join(sys.bin, name), "bin/"+name, file, what, path, pprofArgs, log)
}

// keep has wait run pprof -top on the profile at path (symbols from binary)
// and file the excerpt under tag.
func (p *profiles) keep(ctx context.Context, tag, binary, binName, file, what, path string, pprofArgs []string, log io.Writer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending = append(p.pending, func() { p.excerpt(ctx, tag, binary, binName, file, what, path, pprofArgs, log) })
}

// excerpt runs pprof -top on the profile at path and files it under tag.
func (p *profiles) excerpt(ctx context.Context, tag, binary, binName, file, what, path string, pprofArgs []string, log io.Writer) {
	top, err := pprofTop(ctx, binary, path, pprofArgs...)
	if err != nil {
		fmt.Fprintf(log, "pprof -top %s: %v\n", tag, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tops == nil {
		p.tops = map[string]profileTop{}
	}
	p.tops[tag] = profileTop{bin: binName, file: file, what: what, top: top}
}

// captureSelf records the load generator's own CPU profile after delay for
// d (the report then shows whether the harness, sharing the cores, was the
// bottleneck).
func (p *profiles) captureSelf(ctx context.Context, tag, what string, delay, d time.Duration, dir, base string, log io.Writer) {
	if d <= 0 {
		return
	}
	p.wg.Go(func() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		file := base + "-" + tag + ".pprof"
		path := filepath.Join(dir, file)
		if err := recordSelf(ctx, path, d); err != nil {
			fmt.Fprintf(log, "profile %s: %v\n", tag, err)
			return
		}
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintf(log, "profile %s: %v\n", tag, err)
			return
		}
		p.keep(ctx, tag, exe, "", file, what, path, nil, log)
	})
}

// recordSelf writes this process's CPU profile over d (or until ctx ends) to path.
func recordSelf(ctx context.Context, path string, d time.Duration) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return err
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	pprof.StopCPUProfile()
	return f.Close()
}

// wait blocks until the profiles started are written, then makes their
// excerpts.
func (p *profiles) wait() {
	p.wg.Wait()
	p.mu.Lock()
	pending := p.pending
	p.pending = nil
	p.mu.Unlock()
	for _, f := range pending {
		f()
	}
}

// pprofTop returns the heading and the 25 hottest functions (by cumulative
// value) of a profile.
func pprofTop(ctx context.Context, binary, path string, extra ...string) (string, error) {
	args := append([]string{"tool", "pprof", "-top", "-cum", "-nodecount=25"}, extra...)
	cmd := exec.CommandContext(ctx, "go", append(args, binary, path)...)
	out, err := cmd.Output()
	if err != nil {
		return "", err
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var keep []string
	for _, l := range lines {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") || strings.HasPrefix(l, "Type:") || strings.HasPrefix(l, "Time:") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n"), nil
}
