package httpapi

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseLimit(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   Limit
		policy string
	}{
		{"10/1m", Limit{Rate: 10, Period: time.Minute, Burst: 10}, "10;w=60"},
		{"200/1s,burst=400", Limit{Rate: 200, Period: time.Second, Burst: 400}, "200;w=1;burst=400"},
		{"200/s", Limit{Rate: 200, Period: time.Second, Burst: 200}, "200;w=1"},
		{"1000/h", Limit{Rate: 1000, Period: time.Hour, Burst: 1000}, "1000;w=3600"},
		{" 5 / 10s , burst = 2 ", Limit{Rate: 5, Period: 10 * time.Second, Burst: 2}, "5;w=10;burst=2"},
		{"1/1m30s", Limit{Rate: 1, Period: 90 * time.Second, Burst: 1}, "1;w=90"},
	} {
		got, err := ParseLimit(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseLimit(%q): got %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		if p := got.policy(); p != tc.policy {
			t.Errorf("ParseLimit(%q).policy(): got %q, want %q", tc.in, p, tc.policy)
		}
		if again, err := ParseLimit(got.String()); err != nil || again != got {
			t.Errorf("ParseLimit(%q.String() = %q): got %+v, %v; want it back", tc.in, got.String(), again, err)
		}
	}
	for _, tc := range []struct{ in, why string }{
		{"", "no /"},
		{"10", "no /"},
		{"10 per minute", "no /"},
		{"/1m", "requests"},
		{"0/1m", "requests"},
		{"-5/1m", "requests"},
		{"1.5/1m", "requests"},
		{"2000000/1s", "requests"},
		{"10/", "not a duration"},
		{"10/minute", "not a duration"},
		{"10/500ms", "whole number of seconds"},
		{"10/1500ms", "whole number of seconds"},
		{"10/-1m", "whole number of seconds"},
		{"10/1m,400", "burst=<requests>"},
		{"10/1m,burst=", "burst"},
		{"10/1m,burst=0", "burst"},
		{"10/1m,burst=x", "burst"},
		{"10/1m,burst=5,burst=6", "burst"},
	} {
		got, err := ParseLimit(tc.in)
		if err == nil {
			t.Errorf("ParseLimit(%q): got %+v, want an error about %s", tc.in, got, tc.why)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tc.why) || !strings.Contains(msg, `e.g. "10/1m"`) {
			t.Errorf("ParseLimit(%q): got error %q, want it to mention %q and show the syntax", tc.in, msg, tc.why)
		}
	}
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies([]string{"10.0.0.0/8", " 192.168.1.7 ", "fd00::/8", "2001:db8::1", "172.16.5.9/12"})
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"),
		netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("2001:db8::1/128"), netip.MustParsePrefix("172.16.0.0/12")}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("got %v, %v; want %v", got, err, want)
	}
	if got, err := ParseTrustedProxies(nil); err != nil || len(got) != 0 {
		t.Errorf("no proxies: got %v, %v; want none", got, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.internal", "10.0.0", "fe80::1%eth0", "*"} {
		if got, err := ParseTrustedProxies([]string{"10.0.0.1", bad}); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%q: got %v, %v; want an error naming it", bad, got, err)
		}
	}
}

func TestClientKey(t *testing.T) {
	for _, tc := range []struct{ ip, want string }{
		{"203.0.113.7", "203.0.113.7"},
		{"::ffff:203.0.113.7", "203.0.113.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::9", "2001:db8:1:2::/64"},
		{"", "unknown"},
		{"not an address", "unknown"},
	} {
		if got := clientKey(tc.ip); got != tc.want {
			t.Errorf("clientKey(%q): got %q, want %q", tc.ip, got, tc.want)
		}
	}
}
