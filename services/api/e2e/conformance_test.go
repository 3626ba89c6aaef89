package e2e

import (
	"testing"

	"github.com/instachat/instachat/client/clienttest"
)

// TestClientConformance runs the Go client's conformance suite, which its
// in-memory fake passes too, against the real system: the client and the
// api agree on numbers, errors, idempotency, cursors, pages and search.
func TestClientConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	clienttest.Run(t, newSystem(t).apiURL)
}
