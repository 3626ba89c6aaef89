package client

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"1", time.Second},
		{" 30 ", 30 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"999999999", 24 * time.Hour},
	}
	for _, tc := range cases {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q): got %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	p := RetryPolicy{Base: 100 * time.Millisecond, Max: time.Second}.withDefaults()
	cases := []struct {
		retry      int
		retryAfter time.Duration
		lo, hi     time.Duration
	}{
		{1, 0, 0, 100 * time.Millisecond},
		{2, 0, 0, 200 * time.Millisecond},
		{4, 0, 0, 800 * time.Millisecond},
		{5, 0, 0, time.Second},
		{80, 0, 0, time.Second}, // no overflow far out
		{1, 3 * time.Second, 3 * time.Second, 3 * time.Second},
	}
	for _, tc := range cases {
		for range 200 {
			if got := p.backoff(tc.retry, tc.retryAfter); got < tc.lo || got > tc.hi {
				t.Fatalf("backoff(%d, %v): got %v, want within [%v, %v]", tc.retry, tc.retryAfter, got, tc.lo, tc.hi)
			}
		}
	}
}

func TestCursorQuery(t *testing.T) {
	cases := []struct {
		c    Cursor
		want string
	}{
		{Newest(), "limit=50"},
		{Newest().WithLimit(10), "limit=10"},
		{Oldest(), "after=0&limit=50"},
		{Before(4201).WithLimit(50), "before=4201&limit=50"},
		{After(7), "after=7&limit=50"},
	}
	for _, tc := range cases {
		if got := tc.c.query().Encode(); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.c, got, tc.want)
		}
	}
}

func TestErrorIs(t *testing.T) {
	sentinels := []error{ErrInvalid, ErrUnauthorized, ErrNotFound, ErrConflict, ErrKeyReused, ErrRateLimited, ErrUnavailable}
	cases := map[int]error{400: ErrInvalid, 413: ErrInvalid, 415: ErrInvalid, 401: ErrUnauthorized, 403: ErrUnauthorized,
		404: ErrNotFound, 409: ErrConflict, 422: ErrKeyReused, 429: ErrRateLimited, 502: ErrUnavailable,
		503: ErrUnavailable, 504: ErrUnavailable, 500: nil}
	for status, want := range cases {
		e := &Error{StatusCode: status}
		for _, s := range sentinels {
			if got := e.Is(s); got != (s == want) {
				t.Errorf("status %d Is(%v): got %v, want %v", status, s, got, s == want)
			}
		}
	}
}
