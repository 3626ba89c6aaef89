package webhook

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		in, want string // want is Policy.String()
	}{
		{"", ""},
		{" , ,", ""},
		{"localhost,127.0.0.1", "localhost,127.0.0.1"},
		{" LocalHost. , 127.0.0.1 ,10.1.2.3/16,,", "localhost,127.0.0.1,10.1.0.0/16"},
		{"::1,fd00::/8,::ffff:127.0.0.2", "::1,fd00::/8,127.0.0.2"},
		{"hooks.internal.example,svc_a.cluster.local", "hooks.internal.example,svc_a.cluster.local"},
	}
	for _, tt := range tests {
		p, err := ParsePolicy(tt.in)
		if err != nil {
			t.Errorf("ParsePolicy(%q): %v", tt.in, err)
			continue
		}
		if got := p.String(); got != tt.want {
			t.Errorf("ParsePolicy(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParsePolicyErrors(t *testing.T) {
	tests := []struct {
		in, entry, want string
	}{
		{"localhost,http://hooks.example", "http://hooks.example", "not URLs"},
		{"*.example.com", "*.example.com", "wildcards"},
		{"10.0.0.0/33", "10.0.0.0/33", "CIDR"},
		{"10.0.0/8", "10.0.0/8", "CIDR"},
		{"::ffff:10.0.0.0/104", "::ffff:10.0.0.0/104", "IPv4 form"},
		{"fe80::1%eth0", "fe80::1%eth0", "zones"},
		{"localhost:8080", "localhost:8080", "ports"},
		{"bad host", "bad host", "host name"},
		{"127.1", "127.1", "host name"},
		{"-bad.example", "-bad.example", "host name"},
	}
	for _, tt := range tests {
		_, err := ParsePolicy(tt.in)
		if err == nil {
			t.Errorf("ParsePolicy(%q) = nil error, want one", tt.in)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, `"`+tt.entry+`"`) || !strings.Contains(msg, tt.want) {
			t.Errorf("ParsePolicy(%q) error = %q, want it to quote %q and mention %q", tt.in, msg, tt.entry, tt.want)
		}
	}
}

func TestZeroPolicyListsNothing(t *testing.T) {
	var p Policy
	if p.hostListed("localhost") {
		t.Error("zero Policy lists localhost")
	}
	if err := p.check("localhost", nil, false); !errors.Is(err, ErrUnresolved) {
		t.Errorf("check with no addresses = %v, want ErrUnresolved", err)
	}
}
