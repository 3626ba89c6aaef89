package client_test

import (
	"context"
	"errors"
	"testing"

	"github.com/instachat/instachat/client"
	"github.com/instachat/instachat/client/clienttest"
)

func TestAdmin(t *testing.T) {
	srv := clienttest.NewServer()
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	adm := c.Admin(clienttest.AdminToken)

	if l, err := adm.Dead(ctx, client.AllPartitions, 1, 10); err != nil || l.Total != 0 || l.Page != 1 || l.PerPage != 10 {
		t.Errorf("dead: got %+v, %v; want an empty page 1 of 10", l, err)
	}
	if _, err := adm.Dead(ctx, 3, 0, 0); err != nil {
		t.Errorf("dead of partition 3: %v", err)
	}
	if err := adm.Replay(ctx, "nope"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("replay unknown: got %v, want ErrNotFound", err)
	}
	if err := adm.Discard(ctx, "nope"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("discard unknown: got %v, want ErrNotFound", err)
	}
	if r, err := adm.ReplayAll(ctx, client.AllPartitions); err != nil || r != (client.ReplayAllResult{}) {
		t.Errorf("replay all: got %+v, %v", r, err)
	}
	if n, err := adm.DiscardAll(ctx, 0); err != nil || n != 0 {
		t.Errorf("discard all: got %d, %v", n, err)
	}
	if err := adm.StartRebuild(ctx, true); err != nil {
		t.Errorf("start rebuild: %v", err)
	}
	if p, err := adm.RebuildProgress(ctx); err != nil || p.Status != "finished" || p.FinishedAt.IsZero() {
		t.Errorf("rebuild progress: got %+v, %v", p, err)
	}
	if _, err := c.Admin("wrong").Dead(ctx, client.AllPartitions, 0, 0); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("wrong admin token: got %v, want ErrUnauthorized", err)
	}
}
