package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/pkg/testenv"
)

// TestStatementsHaveADeadline checks that a statement on a MySQL that stops
// answering (every byte held, as SIGSTOP does) fails after IOTimeout even
// when its caller set no deadline: no service's read hangs for the outage.
func TestStatementsHaveADeadline(t *testing.T) {
	direct := testenv.MySQLDSN(t)
	proxy := testenv.NewProxy(t, "127.0.0.1:3306")
	s, err := store.Open(context.Background(), store.Config{DSN: strings.Replace(direct, "127.0.0.1:3306", proxy.Addr(), 1), IOTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	app, err := s.CreateApplication(context.Background(), "deadline", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	proxy.Stall()
	defer proxy.Restore()
	start := time.Now()
	_, err = s.Application(context.Background(), app.App.Token)
	took := time.Since(start)
	if !errors.Is(err, chat.ErrUnavailable) {
		t.Errorf("read while MySQL hangs: got %v, want unavailable", err)
	}
	if took > 10*time.Second {
		t.Errorf("read while MySQL hangs took %v; want it to end after the 1 s I/O deadline", took)
	}
	t.Logf("read while MySQL hangs failed after %v", took)
}
