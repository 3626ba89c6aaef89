package dashboard

import (
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/queue"
)

func TestAgo(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"},
		{42 * time.Second, "42s"},
		{3*time.Minute + 5*time.Second, "3m 5s"},
		{5 * time.Minute, "5m"},
		{2*time.Hour + 10*time.Minute + 9*time.Second, "2h 10m"},
		{2*time.Hour + 30*time.Second, "2h"},
		{4*24*time.Hour + 3*time.Hour, "4d 3h"},
	}
	for _, tt := range tests {
		if got := ago(tt.d); got != tt.want {
			t.Errorf("ago(%v): got %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestDue(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		t    time.Time
		want string
	}{
		{now.Add(35 * time.Second), "due in 35s"},
		{now.Add(-time.Second), "due now"},
		{time.Time{}, ""},
	} {
		if got := due(tt.t, now); got != tt.want {
			t.Errorf("due(%v): got %q, want %q", tt.t, got, tt.want)
		}
	}
}

func TestLatencyAndShortID(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Millisecond, "0ms"},
		{850 * time.Millisecond, "850ms"},
		{2400 * time.Millisecond, "2.4s"},
		{3*time.Minute + 5*time.Second, "3m 5s"},
	}
	for _, tt := range tests {
		if got := latency(tt.d); got != tt.want {
			t.Errorf("latency(%v): got %q, want %q", tt.d, got, tt.want)
		}
	}
	if got := shortID("0190f5a8c3e1a2b3c4d5e6f708192a3b"); got != "…f708192a3b" {
		t.Errorf("shortID: got %q, want …f708192a3b", got)
	}
	if got := shortID("raw-0123456789abcdef"); got != "raw-0123456789abcdef" {
		t.Errorf("shortID(short): got %q, want it unchanged", got)
	}
	if got := shortID("0190f5a8c3e1a2b3c4d5e6f708192a3b.wh_abcdefghijklmnopqrstuvwxyz"); got != "…f708192a3b.wh_abcde…" {
		t.Errorf("shortID(delivery): got %q, want …f708192a3b.wh_abcde…", got)
	}
}

func TestPreviewAndAbbreviate(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"two\nlines  and\ttabs", 40, "two lines and tabs"},
		{"héllo wörld", 6, "héllo…"},
	}
	for _, tt := range tests {
		if got := preview(tt.in, tt.n); got != tt.want {
			t.Errorf("preview(%q, %d): got %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
	if got := abbreviate("0123456789abcdef01234567"); got != "01234567…" {
		t.Errorf("abbreviate: got %q, want 01234567…", got)
	}
	if got := abbreviateParent("0123456789abcdef01234567:3:9"); got != "01234567… chat 3 message 9" {
		t.Errorf("abbreviateParent: got %q", got)
	}
}

func TestChart(t *testing.T) {
	if got := []int64{niceCeil(0), niceCeil(11), niceCeil(180), niceCeil(500), niceCeil(501)}; got[0] != 10 || got[1] != 20 || got[2] != 200 || got[3] != 500 || got[4] != 1000 {
		t.Errorf("niceCeil(0, 11, 180, 500, 501): got %v, want [10 20 200 500 1000]", got)
	}
	base := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	minutes := make([]queue.MinuteStat, 60)
	for i := range minutes {
		minutes[i].Minute = base.Add(time.Duration(i) * time.Minute)
	}
	minutes[10].Processed, minutes[10].Failed = 80, 20
	minutes[59].Processed = 1
	c := newChart(minutes)
	if c.Empty || c.Processed != 81 || c.Failed != 20 || c.Peak != 100 || len(c.Bars) != 60 {
		t.Fatalf("chart: got empty=%v processed=%d failed=%d peak=%d bars=%d, want 81, 20, peak 100, 60 bars", c.Empty, c.Processed, c.Failed, c.Peak, len(c.Bars))
	}
	peak := c.Bars[10]
	if peak.FailedY != chartTop || peak.ProcessedY+peak.ProcessH != c.Bottom {
		t.Errorf("peak bar: got failed top %v, processed %v+%v, want the stack from %v to %v", peak.FailedY, peak.ProcessedY, peak.ProcessH, chartTop, c.Bottom)
	}
	if c.Bars[59].ProcessH < 1.5 || c.Bars[0].ProcessH != 0 {
		t.Errorf("small and empty bars: got heights %v and %v, want at least 1.5 and 0", c.Bars[59].ProcessH, c.Bars[0].ProcessH)
	}
	if len(c.Ticks) != 5 || c.Ticks[4].Label != "now" || c.Ticks[0].Label != "12:00" {
		t.Errorf("ticks: got %+v, want 12:00 … now", c.Ticks)
	}
	if e := newChart(minutes[:0]); !e.Empty || len(e.Bars) != 0 {
		t.Errorf("empty chart: got %+v", e)
	}
}
