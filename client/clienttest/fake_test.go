package clienttest_test

import (
	"testing"

	"github.com/instachat/instachat/client/clienttest"
)

// TestFakeConforms runs the conformance suite against the fake, as the real
// system's end-to-end tests run it against the api.
func TestFakeConforms(t *testing.T) {
	srv := clienttest.NewServer()
	t.Cleanup(srv.Close)
	clienttest.Run(t, srv.URL)
}
