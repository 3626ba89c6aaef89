package delivery

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestBackoffDoublesWithJitterUpToTheCap(t *testing.T) {
	w := &Worker{cfg: Config{Backoff: 5 * time.Second, BackoffMax: time.Hour}}
	tests := []struct {
		failures int
		want     time.Duration // the most it may wait; jitter takes up to a quarter off
	}{
		{0, 5 * time.Second}, {1, 5 * time.Second}, {2, 10 * time.Second}, {3, 20 * time.Second},
		{8, 640 * time.Second}, {10, 2560 * time.Second}, {11, time.Hour}, {100, time.Hour},
	}
	for _, tt := range tests {
		for range 50 {
			if got := w.backoff(tt.failures); got > tt.want || got < tt.want*3/4 {
				t.Fatalf("backoff(%d): got %v, want from %v to %v", tt.failures, got, tt.want*3/4, tt.want)
			}
		}
	}
}

func TestPauseReasonFitsTheColumn(t *testing.T) {
	short := pauseReason(812, 24*time.Hour+400*time.Millisecond, "receiver answered 500 Internal Server Error: oops")
	if want := "paused after 812 failed deliveries over 24h0m0s; last: receiver answered 500 Internal Server Error: oops"; short != want {
		t.Errorf("got %q, want %q", short, want)
	}
	long := pauseReason(100, time.Hour, "receiver answered 500: "+strings.Repeat("é", 300))
	if len(long) > maxReason || !utf8.ValidString(long) || !strings.HasSuffix(long, "…") {
		t.Errorf("long reason: got %d bytes (valid %v): %q", len(long), utf8.ValidString(long), long)
	}
}
