package webhook

import (
	"net/netip"
	"strings"
	"testing"
)

func TestNonPublic(t *testing.T) {
	tests := []struct {
		addr string
		want string // a part of the reason; "" for a public address
	}{
		{"8.8.8.8", ""},
		{"93.184.215.14", ""},
		{"172.15.255.255", ""},
		{"172.32.0.0", ""},
		{"100.63.255.255", ""},
		{"100.128.0.0", ""},
		{"198.17.255.255", ""},
		{"223.255.255.255", ""},
		{"2606:4700::1111", ""},
		{"2a00:1450:4001:82b::200e", ""},
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "this network"},
		{"10.0.0.1", "private"},
		{"100.64.0.1", "carrier-grade NAT"},
		{"100.127.255.255", "carrier-grade NAT"},
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"169.254.169.254", "cloud metadata"},
		{"169.254.1.1", "link-local"},
		{"172.16.0.0", "private"},
		{"172.31.255.255", "private"},
		{"192.0.0.8", "IETF protocol"},
		{"192.0.2.1", "documentation"},
		{"192.88.99.1", "6to4"},
		{"192.168.1.1", "private"},
		{"198.18.0.1", "benchmarking"},
		{"198.19.255.255", "benchmarking"},
		{"198.51.100.7", "documentation"},
		{"203.0.113.9", "documentation"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"240.0.0.1", "reserved"},
		{"255.255.255.255", "broadcast"},
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"::7f00:1", "IPv4-compatible"},
		{"::ffff:10.0.0.1", "private"},
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:169.254.169.254", "cloud metadata"},
		{"64:ff9b::808:808", "NAT64"},
		{"64:ff9b::a00:1", "NAT64"},
		{"64:ff9b:1::a00:1", "NAT64"},
		{"100::1", "discard"},
		{"fc00::1", "unique local"},
		{"fd12:3456::1", "unique local"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"fec0::1", "site-local"},
		{"ff02::1", "multicast"},
		{"2001::1", "Teredo"},
		{"2001:2::1", "benchmarking"},
		{"2001:db8::1", "documentation"},
		{"2001:10::1", "IETF protocol"},
		{"2002:a00:1::1", "6to4"},
		{"3fff::1", "documentation"},
		{"4000::1", "reserved"},
		{"::ffff:0:a00:1", "reserved"},
	}
	for _, tt := range tests {
		got := nonPublic(netip.MustParseAddr(tt.addr))
		switch {
		case tt.want == "" && got != "":
			t.Errorf("nonPublic(%s) = %q, want public", tt.addr, got)
		case tt.want != "" && !strings.Contains(got, tt.want):
			t.Errorf("nonPublic(%s) = %q, want a reason mentioning %q", tt.addr, got, tt.want)
		}
	}
}

// TestSpecialRangesOrder guards the table's rule that a range comes before
// any range containing it, so that the precise reason is the one given.
func TestSpecialRangesOrder(t *testing.T) {
	for i, outer := range specialRanges {
		for _, inner := range specialRanges[i+1:] {
			if outer.prefix.Bits() < inner.prefix.Bits() && outer.prefix.Overlaps(inner.prefix) {
				t.Errorf("%s (%s) comes before %s (%s), which it contains", outer.prefix, outer.reason, inner.prefix, inner.reason)
			}
		}
	}
}
