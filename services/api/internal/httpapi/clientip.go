package httpapi

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/gin-gonic/gin"
)

// ParseTrustedProxies reads the networks whose X-Forwarded-For the api
// believes: CIDRs ("10.0.0.0/8") or single addresses ("10.1.2.3"). An empty
// list trusts no proxy, so a request's client is its TCP peer.
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR: %w", s, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// trustProxies makes gin's ClientIP read X-Forwarded-For (and X-Real-IP) only
// from the given proxies. Gin's default trusts every peer, which would let any
// client name its own address and step around a per-address limit.
func trustProxies(r *gin.Engine, proxies []netip.Prefix) error {
	var list []string // nil, not empty: gin trusts nobody then
	for _, p := range proxies {
		list = append(list, p.String())
	}
	return r.SetTrustedProxies(list)
}

// clientKey names the budget a client address draws on: an IPv4 address, or
// the /64 an IPv6 address belongs to (one host or home usually holds a whole
// /64, so counting single addresses would give it billions of budgets).
func clientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "unknown"
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}
