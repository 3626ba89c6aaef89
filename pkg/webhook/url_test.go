package webhook

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// urlCase is one CheckURL expectation: err nil means accepted; otherwise
// the error must match err and mention msg.
type urlCase struct {
	url string
	err error
	msg string
}

func runURLCases(t *testing.T, allow string, tests []urlCase) {
	t.Helper()
	p, _ := mustPolicy(t, allow)
	for _, tt := range tests {
		u, err := p.CheckURL(context.Background(), tt.url)
		switch {
		case tt.err == nil && err != nil:
			t.Errorf("allow %q: CheckURL(%q) = %v, want accepted", allow, tt.url, err)
		case tt.err == nil && u.String() != tt.url:
			t.Errorf("allow %q: CheckURL(%q) returned %q", allow, tt.url, u)
		case tt.err != nil && !errors.Is(err, tt.err):
			t.Errorf("allow %q: CheckURL(%q) = %v, want %v", allow, tt.url, err, tt.err)
		case tt.err != nil && !strings.Contains(err.Error(), tt.msg):
			t.Errorf("allow %q: CheckURL(%q) = %q, want it to say %q", allow, tt.url, err, tt.msg)
		}
	}
}

func TestCheckURLAddresses(t *testing.T) {
	runURLCases(t, "", []urlCase{
		{"https://public.example/hooks/instachat?x=1", nil, ""},
		{"https://public6.example/hook", nil, ""},
		{"https://93.184.215.14:8443/hook", nil, ""},
		{"https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/hook", nil, ""},
		{"https://PUBLIC.example./hook", nil, ""},
		{"https://127.0.0.1/hook", ErrForbidden, "127.0.0.1 is a loopback address"},
		{"https://10.0.0.1/hook", ErrForbidden, "10.0.0.1 is a private address"},
		{"https://169.254.169.254/latest/meta-data/", ErrForbidden, "169.254.169.254 is the cloud metadata address"},
		{"https://[::1]/hook", ErrForbidden, "::1 is a loopback address"},
		{"https://localhost/hook", ErrForbidden, "localhost resolves to 127.0.0.1, a loopback address"},
		{"https://100.64.0.1/hook", ErrForbidden, "carrier-grade NAT"},
		{"https://[::ffff:10.0.0.1]/hook", ErrForbidden, "::ffff:10.0.0.1 is 10.0.0.1, a private address"},
		{"https://internal.example/hook", ErrForbidden, "internal.example resolves to 10.1.2.3, a private address"},
		{"https://mixed.example/hook", ErrForbidden, "mixed.example resolves to 192.168.1.1, a private address"},
		{"https://mapped.example/hook", ErrForbidden, "resolves to 169.254.169.254, the cloud metadata address"},
		{"https://0.0.0.0/hook", ErrForbidden, "unspecified"},
		{"https://[::]/hook", ErrForbidden, "unspecified"},
		{"https://[fe80::1%25eth0]/hook", ErrForbidden, "link-local"},
		{"https://[64:ff9b::a00:1]/hook", ErrForbidden, "NAT64"},
		{"https://[2002:a00:1::1]/hook", ErrForbidden, "6to4"},
		{"https://[fd00::1]/hook", ErrForbidden, "unique local"},
		{"https://198.18.0.1/hook", ErrForbidden, "benchmarking"},
		{"https://192.0.0.170/hook", ErrForbidden, "IETF protocol"},
		{"https://224.0.0.1/hook", ErrForbidden, "multicast"},
		{"https://255.255.255.255/hook", ErrForbidden, "broadcast"},
		{"https://241.1.2.3/hook", ErrForbidden, "reserved"},
		{"https://nowhere.example/hook", ErrUnresolved, "nowhere.example: no such host"},
	})
}

func TestCheckURLShape(t *testing.T) {
	runURLCases(t, "", []urlCase{
		{"http://public.example/hook", ErrForbidden, "plain http is allowed only to allow-listed hosts"},
		{"http://93.184.215.14/hook", ErrForbidden, "plain http"},
		{"https://user:pa55word@public.example/hook", ErrInvalidURL, "user name or password"},
		{"https://user@public.example/hook", ErrInvalidURL, "user name or password"},
		{"ftp://public.example/hook", ErrInvalidURL, "scheme must be https"},
		{"file:///etc/passwd", ErrInvalidURL, "scheme must be https"},
		{"gopher://public.example:70/", ErrInvalidURL, "scheme must be https"},
		{"javascript:alert(1)", ErrInvalidURL, "absolute"},
		{"https:public.example/hook", ErrInvalidURL, "absolute"},
		{"/hooks/instachat", ErrInvalidURL, "absolute"},
		{"public.example/hook", ErrInvalidURL, "absolute"},
		{"", ErrInvalidURL, "absolute"},
		{"https:///hook", ErrInvalidURL, "must have a host"},
		{"https://public.example/hook#frag", ErrInvalidURL, "fragment"},
		{"https://public.example/hook#", ErrInvalidURL, "fragment"},
		{"https://public.example:0/hook", ErrInvalidURL, "port"},
		{"https://public.example:65536/hook", ErrInvalidURL, "port"},
		{"https://2130706433/hook", ErrInvalidURL, "not a valid host name"},
		{"https://0x7f.1/hook", ErrInvalidURL, "not a valid host name"},
		{"https://exa mple.com/hook", ErrInvalidURL, "not a valid URL"},
		{"https://bücher.example/hook", ErrInvalidURL, "xn--"},
		{"https://public.example/\x7f", ErrInvalidURL, "not a valid URL"},
		{"https://public.example/" + strings.Repeat("a", MaxURLLen), ErrInvalidURL, "longer than 2048"},
	})
}

func TestCheckURLMaxLength(t *testing.T) {
	p, _ := mustPolicy(t, "")
	prefix := "https://public.example/"
	raw := prefix + strings.Repeat("a", MaxURLLen-len(prefix))
	if _, err := p.CheckURL(context.Background(), raw); err != nil {
		t.Errorf("CheckURL of a %d-byte URL: %v, want accepted", len(raw), err)
	}
	if _, err := p.CheckURL(context.Background(), raw+"a"); !errors.Is(err, ErrInvalidURL) {
		t.Errorf("CheckURL of a %d-byte URL = %v, want ErrInvalidURL", len(raw)+1, err)
	}
}

func TestCheckURLAllowList(t *testing.T) {
	runURLCases(t, "localhost,127.0.0.1", []urlCase{
		{"http://127.0.0.1:8080/hook", nil, ""},
		{"https://127.0.0.1:8443/hook", nil, ""},
		{"http://localhost:8080/hook", nil, ""},
		{"http://LocalHost.:8080/hook", nil, ""},
		{"http://127.0.0.2/hook", ErrForbidden, "plain http"},
		{"https://127.0.0.2/hook", ErrForbidden, "127.0.0.2 is a loopback address"},
		{"https://[::1]/hook", ErrForbidden, "::1 is a loopback address"},
		{"http://10.0.0.1/hook", ErrForbidden, "plain http"},
		{"https://10.0.0.1/hook", ErrForbidden, "private"},
		{"http://public.example/hook", ErrForbidden, "plain http"},
		{"https://public.example/hook", nil, ""},
		{"http://user:pw@127.0.0.1/hook", ErrInvalidURL, "user name or password"},
	})
	runURLCases(t, "10.1.0.0/16,::1", []urlCase{
		{"http://internal.example/hook", nil, ""},
		{"http://10.1.9.9/hook", nil, ""},
		{"http://[::1]:8080/hook", nil, ""},
		{"http://10.2.0.1/hook", ErrForbidden, "plain http"},
		{"http://public.example/hook", ErrForbidden, "plain http"},
		{"http://mixed.example/hook", ErrForbidden, "plain http"},
		{"https://public.example/hook", nil, ""},
		{"https://localhost/hook", ErrForbidden, "localhost resolves to 127.0.0.1, a loopback address"},
	})
}

// TestCheckURLSystemResolver resolves localhost with net.DefaultResolver
// (from /etc/hosts, no network needed).
func TestCheckURLSystemResolver(t *testing.T) {
	var refused Policy
	_, err := refused.CheckURL(context.Background(), "https://localhost/hook")
	if errors.Is(err, ErrUnresolved) {
		t.Skipf("localhost does not resolve here: %v", err)
	}
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("CheckURL(https://localhost/hook) = %v, want a loopback refusal", err)
	}
	allowed, err := ParsePolicy("localhost")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := allowed.CheckURL(context.Background(), "http://localhost:8080/hook"); err != nil {
		t.Errorf("allow localhost: CheckURL(http://localhost:8080/hook) = %v, want accepted", err)
	}
}
