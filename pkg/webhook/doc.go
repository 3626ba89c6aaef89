// Package webhook delivers InstaChat events to tenants' HTTP endpoints: the
// destination policy that decides which URLs may be called, the signature
// receivers verify, and one signed POST with its outcome.
//
// A webhook URL is chosen by a tenant, so the server that calls it must not
// become the tenant's way into our network (server-side request forgery).
// Policy refuses URLs whose host resolves to a loopback, private,
// link-local (including the cloud metadata address 169.254.169.254) or other
// non-public address, unless the operator's allow-list names it. The check
// runs twice: when the URL is saved (CheckURL) and again when a connection is
// dialled (Client), because DNS can change in between — a name that was
// public at save time may answer 127.0.0.1 at delivery (DNS rebinding). The
// client dials the very address it checked, ignores proxy settings, and does
// not follow redirects, since a public receiver could otherwise redirect the
// request to an internal address: the 3xx is the delivery's result.
package webhook
