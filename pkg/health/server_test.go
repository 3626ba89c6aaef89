package health_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/health"
	"github.com/instachat/instachat/pkg/testenv"
)

func TestServeUntilCanceled(t *testing.T) {
	addr := "127.0.0.1:" + testenv.FreePort(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- health.Serve(ctx, addr, health.Handler("v1", nil, nil), time.Second) }()

	var body string
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(body, `"version":"v1"`) {
		t.Fatalf("/healthz: got %q, want the version", body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after cancel: got %v, want nil (a graceful shutdown)", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Errorf("%s still accepts connections after the shutdown", addr)
	}
}

func TestServeAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = health.Serve(t.Context(), ln.Addr().String(), http.NotFoundHandler(), time.Second)
	if err == nil || !strings.Contains(err.Error(), "health server") {
		t.Errorf("got %v, want the listen error", err)
	}
}
