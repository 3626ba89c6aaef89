package clienttest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/instachat/instachat/client"
)

// Limits of applications' settings, as the api has them (ADR 0016).
const (
	maxWebhooks    = 10
	maxURLBytes    = 2048
	defaultOverlap = 24 * time.Hour
	maxOverlap     = 7 * 24 * time.Hour
	secretPrefix   = "whsec_"
	webhookPrefix  = "wh_"
)

// eventTypes are the event types settings may name, in the api's order.
var eventTypes = []string{client.EventChatCreated, client.EventChatDeleted, client.EventMessageCreated,
	client.EventMessageUpdated, client.EventMessageDeleted}

// settings are an application's settings document; the zero value is the
// defaults at version 0.
type settings struct {
	version        int64
	maxBodyBytes   int    // 0: maxBodyBytes
	writeRateLimit string // "": the server's
	events         []string
	webhooks       []hook
	updated        time.Time
}

// hook is one webhook endpoint. secrets[0] signs; secrets[1], after a
// rotation, signs beside it until previousUntil.
type hook struct {
	id, url       string
	events        []string
	active        bool
	pausedReason  string
	pausedAt      *time.Time
	secrets       []string
	previousUntil *time.Time
	created       time.Time
}

// bodyLimit is the largest message body the application accepts.
func (s settings) bodyLimit() int {
	if s.maxBodyBytes > 0 {
		return s.maxBodyBytes
	}
	return maxBodyBytes
}

// emits reports whether the application's streams carry event type typ.
func (s settings) emits(typ string) bool { return s.events == nil || slices.Contains(s.events, typ) }

// The settings' JSON, as the api's Swagger spec names it (Settings, Webhook).
type (
	settingsJSON struct {
		Version        int64         `json:"version"`
		MaxBodyBytes   *int          `json:"max_body_bytes"`
		WriteRateLimit *string       `json:"write_rate_limit"`
		Events         []string      `json:"events"`
		Webhooks       []webhookJSON `json:"webhooks"`
		UpdatedAt      *string       `json:"updated_at"`
	}
	webhookJSON struct {
		ID                  string   `json:"id"`
		URL                 string   `json:"url"`
		Events              []string `json:"events"`
		Active              bool     `json:"active"`
		PausedReason        string   `json:"paused_reason,omitempty"`
		PausedAt            *string  `json:"paused_at,omitempty"`
		Secret              string   `json:"secret,omitempty"`
		SecretHint          string   `json:"secret_hint"`
		PreviousSecretUntil *string  `json:"previous_secret_until,omitempty"`
		CreatedAt           string   `json:"created_at"`
	}
)

// apiTime is a time as the api writes it: UTC, microseconds always.
func apiTime(t time.Time) *string {
	s := t.UTC().Format("2006-01-02T15:04:05.000000Z07:00")
	return &s
}

// reply answers s with its ETag, showing the secrets in shown (endpoint id
// → secret) only: those a write just made.
func (s settings) reply(shown map[string]string) reply {
	out := settingsJSON{Version: s.version, Events: s.events, Webhooks: []webhookJSON{}}
	if s.maxBodyBytes > 0 {
		out.MaxBodyBytes = &s.maxBodyBytes
	}
	if s.writeRateLimit != "" {
		out.WriteRateLimit = &s.writeRateLimit
	}
	if !s.updated.IsZero() {
		out.UpdatedAt = apiTime(s.updated)
	}
	for _, h := range s.webhooks {
		w := webhookJSON{ID: h.id, URL: h.url, Events: h.events, Active: h.active, PausedReason: h.pausedReason,
			Secret: shown[h.id], SecretHint: hint(h.secrets[0]), CreatedAt: *apiTime(h.created)}
		if h.pausedAt != nil {
			w.PausedAt = apiTime(*h.pausedAt)
		}
		if h.previousUntil != nil && len(h.secrets) > 1 {
			w.PreviousSecretUntil = apiTime(*h.previousUntil)
		}
		out.Webhooks = append(out.Webhooks, w)
	}
	rep := ok(http.StatusOK, out)
	rep.header = http.Header{"Etag": {`"` + strconv.FormatInt(s.version, 10) + `"`}}
	return rep
}

// hint shows enough of a secret to tell which one it is.
func hint(secret string) string {
	const shown = len(secretPrefix) + 4
	if len(secret) <= shown {
		return "…"
	}
	return secret[:shown] + "…"
}

func getSettings(f *fake, r request) reply {
	a, _, _, bad := f.lookup(r)
	if bad != nil {
		return *bad
	}
	return a.settings.reply(nil)
}

// precondition is a write's If-Match: a version, any version (*), or none.
type precondition struct {
	version *int64
	any     bool
}

// ifMatch reads If-Match: "<version>" (weak or not), or *.
func ifMatch(r request) (precondition, *reply) {
	v := strings.TrimSpace(r.Header.Get("If-Match"))
	switch v {
	case "":
		return precondition{}, nil
	case "*":
		return precondition{any: true}, nil
	}
	n, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(v, "W/"), `"`), 10, 64)
	if err != nil || n < 0 {
		rep := fail(http.StatusBadRequest, `If-Match must be "<version>" as the settings' ETag gives it, or *`)
		return precondition{}, &rep
	}
	return precondition{version: &n}, nil
}

// stale answers a write against another version than cur: 412 for
// If-Match, 409 for the body's version field.
func (p precondition) stale(cur int64, bodyVersion *int64) *reply {
	switch {
	case p.version != nil && *p.version != cur:
		rep := fail(http.StatusPreconditionFailed, "the settings changed since the version in If-Match: read them again and reapply your change")
		return &rep
	case bodyVersion != nil && *bodyVersion != cur:
		rep := fail(http.StatusConflict, "the settings changed since that version: read them again and reapply your change")
		return &rep
	}
	return nil
}

// changeSettings serves PUT (replace) and PATCH (merge), in the api's order
// of checks: the body, the precondition's presence, the webhook URLs, the
// application, the version, then the document.
func changeSettings(f *fake, r request) reply {
	var in client.SettingsInput
	if !strings.HasPrefix(strings.TrimSpace(r.payload), "{") {
		return fail(http.StatusBadRequest, "request body must be a JSON object")
	}
	if err := json.Unmarshal([]byte(r.payload), &in); err != nil {
		return fail(http.StatusBadRequest, "malformed JSON: %v", err)
	}
	if in.WriteRateLimit.IsSet() && !in.WriteRateLimit.IsNull() {
		if err := checkLimit(in.WriteRateLimit.Value()); err != nil {
			return fail(http.StatusBadRequest, "write_rate_limit %v", err)
		}
	}
	pre, bad := ifMatch(r)
	if bad != nil {
		return *bad
	}
	if pre.version == nil && !pre.any && in.Version == nil {
		return fail(http.StatusPreconditionRequired, `a settings write must say which version it changes: send If-Match: "<version>" or a "version" field (GET the settings for it)`)
	}
	for i, w := range in.Webhooks.Value() {
		if w.URL == "" {
			continue // apply says it is required
		}
		if err := checkHookURL(w.URL); err != nil {
			return fail(http.StatusBadRequest, "webhooks[%d].url: %v", i, err)
		}
	}
	a, _, _, bad := f.lookup(r)
	if bad != nil {
		return *bad
	}
	if bad := pre.stale(a.settings.version, in.Version); bad != nil {
		return *bad
	}
	next, shown, err := a.settings.apply(in, r.Method == http.MethodPut, r.now.Truncate(time.Microsecond))
	if err != nil {
		return fail(http.StatusBadRequest, "%v", err)
	}
	a.settings = next
	return next.reply(shown)
}

// apply returns s changed by in at now, at the next version, and the
// secrets of the endpoints it created (by id).
func (s settings) apply(in client.SettingsInput, replace bool, now time.Time) (settings, map[string]string, error) {
	next := s
	if replace {
		next = settings{version: s.version}
	}
	if f := in.MaxBodyBytes; f.IsSet() {
		next.maxBodyBytes = f.Value()
		if !f.IsNull() && f.Value() == 0 {
			return settings{}, nil, fmt.Errorf("max_body_bytes must be between 1 and %d (or null for %d)", maxBodyBytes, maxBodyBytes)
		}
	}
	if f := in.WriteRateLimit; f.IsSet() {
		next.writeRateLimit = f.Value()
	}
	if f := in.Events; f.IsSet() {
		next.events = f.Value()
		if !f.IsNull() && next.events == nil {
			next.events = []string{} // refused below: [] is not null
		}
	}
	var shown map[string]string
	if in.Webhooks.IsSet() || replace {
		var err error
		if next.webhooks, shown, err = mergeHooks(s.webhooks, in.Webhooks.Value(), now); err != nil {
			return settings{}, nil, err
		}
	}
	if next.maxBodyBytes < 0 || next.maxBodyBytes > maxBodyBytes {
		return settings{}, nil, fmt.Errorf("max_body_bytes must be between 1 and %d (or null for %d)", maxBodyBytes, maxBodyBytes)
	}
	if err := checkEvents("events", next.events); err != nil {
		return settings{}, nil, err
	}
	next.version, next.updated = s.version+1, now
	return next, shown, nil
}

// mergeHooks builds the new endpoint list from the written one: an entry
// with an id keeps that endpoint's secret and pause, one without is new.
func mergeHooks(cur []hook, in []client.WebhookInput, now time.Time) ([]hook, map[string]string, error) {
	if len(in) > maxWebhooks {
		return nil, nil, fmt.Errorf("at most %d webhooks", maxWebhooks)
	}
	out := make([]hook, 0, len(in))
	shown := map[string]string{}
	for i, wi := range in {
		var h hook
		if wi.ID != "" {
			j := slices.IndexFunc(cur, func(c hook) bool { return c.id == wi.ID })
			if j < 0 {
				return nil, nil, fmt.Errorf("no webhook %q: leave id out to create one", wi.ID)
			}
			h = cur[j]
		}
		h.url, h.events = wi.URL, wi.Events
		switch {
		case wi.Active == nil && wi.ID == "": // a new endpoint is active
			h.active = true
		case wi.Active == nil: // unchanged: a paused endpoint stays paused
		case *wi.Active != h.active:
			h.active, h.pausedReason, h.pausedAt = *wi.Active, "", nil
		}
		if wi.ID == "" {
			h.id, h.secrets, h.created = newWebhookID(), []string{newSecret()}, now
			shown[h.id] = h.secrets[0]
		}
		if slices.ContainsFunc(out, func(o hook) bool { return o.id == h.id }) {
			return nil, nil, fmt.Errorf("webhooks[%d]: %s is listed twice", i, h.id)
		}
		field := fmt.Sprintf("webhooks[%d]", i)
		switch {
		case h.url == "":
			return nil, nil, fmt.Errorf("%s.url is required", field)
		case len(h.url) > maxURLBytes:
			return nil, nil, fmt.Errorf("%s.url must be at most %d bytes", field, maxURLBytes)
		}
		if err := checkEvents(field+".events", h.events); err != nil {
			return nil, nil, err
		}
		out = append(out, h)
	}
	return out, shown, nil
}

// checkEvents validates a list of event types: known, each once, not empty
// (nil means all).
func checkEvents(field string, list []string) error {
	if list == nil {
		return nil
	}
	if len(list) == 0 {
		return fmt.Errorf("%s must name at least one event type (or be null for all): %s", field, strings.Join(eventTypes, ", "))
	}
	for i, typ := range list {
		if !slices.Contains(eventTypes, typ) {
			return fmt.Errorf("%s: unknown event type %q; known: %s", field, typ, strings.Join(eventTypes, ", "))
		}
		if slices.Contains(list[:i], typ) {
			return fmt.Errorf("%s: %q is listed twice", field, typ)
		}
	}
	return nil
}

// checkHookURL is the api's destination policy as far as it goes without
// DNS, with 127.0.0.1 and localhost allow-listed (plain http included), as
// WEBHOOK_ALLOW_HOSTS=127.0.0.1,localhost would: absolute https, a host, no
// user name or fragment, and no non-public address literal.
func checkHookURL(raw string) error {
	if len(raw) > maxURLBytes {
		return fmt.Errorf("longer than %d bytes", maxURLBytes)
	}
	if strings.Contains(raw, "#") {
		return fmt.Errorf("must not contain a fragment (#…)")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("not a valid URL")
	case !u.IsAbs() || u.Opaque != "":
		return fmt.Errorf("must be absolute, like https://hooks.example.com/instachat")
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("scheme must be https")
	case u.User != nil:
		return fmt.Errorf("must not contain a user name or password")
	case u.Hostname() == "":
		return fmt.Errorf("must have a host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port must be between 1 and 65535")
		}
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "127.0.0.1" || host == "localhost" {
		return nil
	}
	if u.Scheme == "http" {
		return fmt.Errorf("plain http is allowed only to allow-listed hosts: use https")
	}
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		if !a.IsGlobalUnicast() || a.IsPrivate() || (a.Is4() && a.As4()[0] == 100 && a.As4()[1]&0xc0 == 64) { // 100.64.0.0/10: shared address space
			return fmt.Errorf("%s is not a public address", a)
		}
	}
	return nil
}

// checkLimit validates a write rate limit as RATE_LIMIT_WRITES reads it:
// "<requests>/<period>[,burst=<requests>]", counts 1–1000000, the period
// whole seconds ("s", "m", "h" for one).
func checkLimit(s string) error {
	const syntax = "<requests>/<period>[,burst=<requests>] such as 50/1s,burst=100"
	bad := func(why string) error { return fmt.Errorf("%q: %s; want %s", s, why, syntax) }
	count := func(v string) bool {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		return err == nil && n >= 1 && n <= 1_000_000
	}
	spec, burst, hasBurst := strings.Cut(strings.TrimSpace(s), ",")
	rate, period, found := strings.Cut(spec, "/")
	if !found {
		return bad("no /")
	}
	if !count(rate) {
		return bad("requests must be a whole number from 1 to 1000000")
	}
	p := strings.TrimSpace(period)
	if p == "s" || p == "m" || p == "h" {
		p = "1" + p
	}
	d, err := time.ParseDuration(p)
	if err != nil || d < time.Second || d%time.Second != 0 {
		return bad("the period must be a whole number of seconds")
	}
	if hasBurst {
		name, n, found := strings.Cut(burst, "=")
		if !found || strings.TrimSpace(name) != "burst" || !count(n) {
			return bad("after the comma, want burst=<requests> from 1 to 1000000")
		}
	}
	return nil
}

// rotateSecret gives an endpoint a new secret, the old one signing beside
// it for the overlap.
func rotateSecret(f *fake, r request) reply {
	var body struct {
		Overlap string `json:"overlap"`
	}
	if r.payload != "" {
		if err := json.Unmarshal([]byte(r.payload), &body); err != nil {
			return fail(http.StatusBadRequest, "malformed JSON: %v", err)
		}
	}
	var overlap time.Duration
	if body.Overlap != "" {
		d, err := time.ParseDuration(body.Overlap)
		if err != nil {
			return fail(http.StatusBadRequest, `overlap must be a duration such as "24h" or "90m"`)
		}
		overlap = d
	}
	pre, bad := ifMatch(r)
	if bad != nil {
		return *bad
	}
	a, _, _, bad := f.lookup(r)
	if bad != nil {
		return *bad
	}
	s := a.settings
	if bad := pre.stale(s.version, nil); bad != nil {
		return *bad
	}
	switch {
	case overlap == 0:
		overlap = defaultOverlap
	case overlap < 0 || overlap > maxOverlap:
		return fail(http.StatusBadRequest, "overlap must be between 0s and %s", maxOverlap)
	}
	id := r.PathValue("id")
	i := slices.IndexFunc(s.webhooks, func(h hook) bool { return h.id == id })
	if i < 0 {
		return fail(http.StatusNotFound, "no webhook %q", id)
	}
	now := r.now.Truncate(time.Microsecond)
	until := now.Add(overlap)
	s.webhooks = slices.Clone(s.webhooks)
	h := &s.webhooks[i]
	h.secrets, h.previousUntil = []string{newSecret(), h.secrets[0]}, &until
	s.version, s.updated = s.version+1, now
	a.settings = s
	return s.reply(map[string]string{id: h.secrets[0]})
}

// newSecret is a signing secret as the api makes them: the prefix and 32
// random bytes in unpadded base64url.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return secretPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// newWebhookID is "wh_" and 26 random characters of Crockford's base32.
func newWebhookID() string {
	const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	b := make([]byte, 26)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[b[i]%32]
	}
	return webhookPrefix + string(b)
}
