package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// Resolver looks up the addresses of a host name. *net.Resolver satisfies
// it; tests pass a fake one to control what a name resolves to.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Policy decides which webhook destinations may be called: public
// addresses, plus what the operator's allow-list names. The zero Policy
// allows public addresses only and resolves names with net.DefaultResolver.
// A Policy is immutable and safe for concurrent use.
type Policy struct {
	hosts    []string       // allow-listed host names, lower case, no trailing dot
	prefixes []netip.Prefix // allow-listed addresses and ranges
	resolver Resolver
}

// ParsePolicy reads an allow-list such as WEBHOOK_ALLOW_HOSTS: host names,
// IP addresses and CIDR ranges separated by commas, for example
// "localhost,127.0.0.1,10.1.0.0/16". An allow-listed host name is trusted
// with whatever it resolves to; an allow-listed address or range admits
// that address whatever name leads to it. Both also permit plain http.
// Empty entries are ignored; the empty string gives the zero Policy.
func ParsePolicy(s string) (Policy, error) {
	var p Policy
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if err := p.add(entry); err != nil {
			return Policy{}, fmt.Errorf("webhook allow-list entry %q: %w", entry, err)
		}
	}
	return p, nil
}

// add appends one allow-list entry.
func (p *Policy) add(entry string) error {
	switch {
	case strings.Contains(entry, "://"):
		return errors.New("list host names, not URLs")
	case strings.Contains(entry, "*"):
		return errors.New("wildcards are not supported: list each host name")
	case strings.Contains(entry, "/"):
		pre, err := netip.ParsePrefix(entry)
		if err != nil {
			return errors.New("not a valid CIDR range (like 10.1.0.0/16 or fd00::/8)")
		}
		if pre.Addr().Is4In6() {
			return errors.New("write IPv4 ranges in IPv4 form (10.1.0.0/16)")
		}
		p.prefixes = append(p.prefixes, pre.Masked())
		return nil
	}
	if a, err := netip.ParseAddr(entry); err == nil {
		if a.Zone() != "" {
			return errors.New("IPv6 zones are not supported")
		}
		a = a.Unmap()
		p.prefixes = append(p.prefixes, netip.PrefixFrom(a, a.BitLen()))
		return nil
	}
	if !validHostName(entry) {
		return errors.New("not an IP address, CIDR range or host name (ports are not allowed)")
	}
	p.hosts = append(p.hosts, normalizeHost(entry))
	return nil
}

// WithResolver returns a copy of p that resolves host names with r instead
// of net.DefaultResolver.
func (p Policy) WithResolver(r Resolver) Policy {
	p.resolver = r
	return p
}

// String lists the allow-list in ParsePolicy's form, for start-up logs.
func (p Policy) String() string {
	entries := slices.Clone(p.hosts)
	for _, pre := range p.prefixes {
		if pre.IsSingleIP() {
			entries = append(entries, pre.Addr().String())
		} else {
			entries = append(entries, pre.String())
		}
	}
	return strings.Join(entries, ",")
}

// hostListed reports whether host (a name or an address literal) is on the
// allow-list by name.
func (p Policy) hostListed(host string) bool {
	return slices.Contains(p.hosts, normalizeHost(host))
}

// addrListed reports whether a lies in an allow-listed address or range.
func (p Policy) addrListed(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, pre := range p.prefixes {
		if pre.Contains(a) {
			return true
		}
	}
	return false
}

// check refuses host unless every one of its addresses is public or
// allow-listed, or host itself is allow-listed by name. With plain set (an
// http URL) public is not enough: every address must be allow-listed.
func (p Policy) check(host string, addrs []netip.Addr, plain bool) error {
	if len(addrs) == 0 {
		return unresolved(host + ": no addresses")
	}
	if p.hostListed(host) {
		return nil
	}
	for _, a := range addrs {
		if p.addrListed(a) {
			continue
		}
		if why := nonPublic(a); why != "" {
			return forbidden(describeAddr(host, a, why))
		}
		if plain {
			return forbidden("plain http is allowed only to allow-listed hosts: use https")
		}
	}
	return nil
}

// describeAddr says which address of host is refused and why, in the
// tenant's terms: "10.0.0.1 is a private address" for an address literal,
// "hooks.example resolves to 10.0.0.1, a private address" for a name.
func describeAddr(host string, a netip.Addr, why string) string {
	shown := a.Unmap()
	lit, err := netip.ParseAddr(host)
	switch {
	case err == nil && lit == shown:
		return fmt.Sprintf("%s is %s", shown, why)
	case err == nil:
		return fmt.Sprintf("%s is %s, %s", host, shown, why)
	}
	return fmt.Sprintf("%s resolves to %s, %s", host, shown, why)
}

// resolve returns host's addresses: the address itself for a literal,
// else what the resolver answers. No answer is an ErrUnresolved error whose
// text names neither our resolver nor our network.
func (p Policy) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	r := p.resolver
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	var dnsErr *net.DNSError
	switch {
	case err == nil && len(addrs) > 0:
		return addrs, nil
	case errors.As(err, &dnsErr) && dnsErr.IsTimeout, errors.Is(err, context.DeadlineExceeded):
		return nil, unresolved(host + ": DNS lookup timed out")
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound, err == nil:
		return nil, unresolved(host + ": no such host")
	}
	return nil, unresolved(host + ": DNS lookup failed")
}
