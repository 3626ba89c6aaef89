package httpapi

import (
	"os"
	"testing"

	"github.com/gin-gonic/gin"
)

// TestMain runs the tests in gin's test mode, as main runs the api in
// release mode: the mode is process-wide, so NewServer leaves it alone.
func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}
