//go:build !linux

package bleve

import (
	"testing"
	"time"
)

// threadCPU is not measured outside Linux: the CPU table reads zero.
func threadCPU(*testing.T) time.Duration { return 0 }
