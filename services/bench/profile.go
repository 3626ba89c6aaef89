package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// profiles captures CPU profiles of the running services while a phase runs
// and keeps each one's top functions for the report.
type profiles struct {
	mu   sync.Mutex
	tops map[string]string // service → `go tool pprof -top` excerpt
	wg   sync.WaitGroup
}

// capture starts CPU profiles of names after delay, each lasting d, written
// into dir as <base>-<name>.pprof. wait blocks until they are written.
func (p *profiles) capture(ctx context.Context, sys *system, names []string, delay, d time.Duration, dir, base string, log io.Writer) {
	if d <= 0 {
		return
	}
	if p.tops == nil {
		p.tops = map[string]string{}
	}
	for _, name := range names {
		p.wg.Go(func() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				fmt.Fprintf(log, "profile %s: %v\n", name, err)
				return
			}
			path := filepath.Join(dir, base+"-"+name+".pprof")
			if err := sys.profileCPU(ctx, name, d, path); err != nil {
				fmt.Fprintf(log, "profile %s: %v\n", name, err)
				return
			}
			top, err := pprofTop(ctx, sys.bin, name, path)
			if err != nil {
				fmt.Fprintf(log, "pprof -top %s: %v\n", name, err)
			}
			p.mu.Lock()
			p.tops[name] = top
			p.mu.Unlock()
		})
	}
}

func (p *profiles) wait() { p.wg.Wait() }

// pprofTop returns the heading and the 15 hottest functions (by cumulative
// time) of a profile.
func pprofTop(ctx context.Context, bin, name, path string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-cum", "-nodecount=25", filepath.Join(bin, name), path)
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
