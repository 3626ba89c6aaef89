package bleve

import (
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// threadCPU is the CPU time the calling OS thread has used, to the
// nanosecond (CLOCK_THREAD_CPUTIME_ID; getrusage counts in scheduler ticks).
func threadCPU(t *testing.T) time.Duration {
	t.Helper()
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		t.Fatalf("clock_gettime: %v", errno)
	}
	return time.Duration(ts.Nano())
}
