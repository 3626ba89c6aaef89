package webhook

import (
	"context"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// MaxURLLen is the longest webhook URL accepted, in bytes.
const MaxURLLen = 2048

// lookupTimeout bounds the DNS lookup of CheckURL when the caller's context
// allows longer.
const lookupTimeout = 5 * time.Second

// CheckURL validates a webhook URL when it is saved: absolute, https (plain
// http only to an allow-listed host), with a host, without userinfo or
// fragment, at most MaxURLLen bytes; and its host must resolve, every
// address to a public or allow-listed one. Errors match ErrInvalidURL,
// ErrForbidden or ErrUnresolved and read well in an API response. Delivery
// checks the addresses again (see Client), since DNS can change.
func (p Policy) CheckURL(ctx context.Context, raw string) (*url.URL, error) {
	if len(raw) > MaxURLLen {
		return nil, invalid("longer than " + strconv.Itoa(MaxURLLen) + " bytes")
	}
	if strings.Contains(raw, "#") {
		return nil, invalid("must not contain a fragment (#…)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, invalid("not a valid URL")
	}
	host, plain, err := p.checkShape(u)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	addrs, err := p.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	if err := p.check(host, addrs, plain); err != nil {
		return nil, err
	}
	return u, nil
}

// checkShape applies the rules that need no DNS and returns the host and
// whether the URL is plain http. Plain http to a host that is not
// allow-listed by name or as an address literal passes only if the range
// allow-list could admit it; the addresses decide later.
func (p Policy) checkShape(u *url.URL) (host string, plain bool, err error) {
	switch {
	case !u.IsAbs() || u.Opaque != "":
		return "", false, invalid("must be absolute, like https://hooks.example.com/instachat")
	case u.Scheme != "https" && u.Scheme != "http":
		return "", false, invalid("scheme must be https")
	case u.User != nil:
		return "", false, invalid("must not contain a user name or password")
	case u.Fragment != "" || u.RawFragment != "":
		return "", false, invalid("must not contain a fragment (#…)")
	case u.Hostname() == "":
		return "", false, invalid("must have a host")
	}
	if err := checkPort(u.Port()); err != nil {
		return "", false, err
	}
	host = u.Hostname()
	a, litErr := netip.ParseAddr(host)
	if litErr != nil && !validHostName(host) {
		return "", false, invalid("host " + strconv.Quote(host) + " is not a valid host name (use the xn-- form for international names)")
	}
	plain = u.Scheme == "http"
	if plain && !p.hostListed(host) && (len(p.prefixes) == 0 || litErr == nil && !p.addrListed(a)) {
		return "", false, forbidden("plain http is allowed only to allow-listed hosts: use https")
	}
	return host, plain, nil
}

// checkPort accepts an empty port (the scheme's default) or 1–65535.
func checkPort(port string) error {
	if port == "" {
		return nil
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return invalid("port must be between 1 and 65535")
	}
	return nil
}

// validHostName reports whether h is a DNS host name in ASCII: labels of
// letters, digits, '-' and '_', at most 63 bytes each and 253 in all, an
// optional final dot, and a last label that is not all digits (so that
// "127.1" or "2130706433" cannot pass for a name).
func validHostName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return strings.Trim(labels[len(labels)-1], "0123456789") != ""
}

// normalizeHost is the form host names are compared in.
func normalizeHost(h string) string {
	return strings.ToLower(strings.TrimSuffix(h, "."))
}
