//go:build ignore

// Command healthcheck is the container health probe: distroless images have
// no shell, curl or wget, so the Dockerfile builds this stdlib-only program
// next to the service and HEALTHCHECK (or compose's healthcheck) runs
//
//	/healthcheck http://127.0.0.1:8080/readyz
//
// It exits 0 when the URL answers 2xx within the timeout, 1 otherwise. The
// build tag keeps it out of the workspace's packages; the Dockerfile builds
// it by file name (go build deploy/healthcheck/main.go).
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: healthcheck URL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, args[0], nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s answered %s: %s", args[0], resp.Status, body)
	}
	return nil
}
