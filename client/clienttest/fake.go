package clienttest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// AdminToken is the fake's ADMIN_TOKEN.
const AdminToken = "clienttest-admin-token"

// Limits of the contract that the fake enforces as the api does.
const (
	maxNameLength  = 255
	maxBodyBytes   = 16 * 1024
	maxRequestBody = 8 * maxBodyBytes
	maxKeyLength   = 255
	defaultPerPage = 20
	maxPerPage     = 100
	maxPage        = 100000
	maxListOffset  = 10000
	defaultLimit   = 50
	maxLimit       = 100
	maxWindow      = 10000
)

// NewServer starts a fake api on a local port; Close it when done. Close
// ends open event streams too (httptest's Close waits for every request).
func NewServer() *httptest.Server {
	done := make(chan struct{})
	srv := httptest.NewUnstartedServer(newFake(done).routes())
	srv.Listener = &closing{Listener: srv.Listener, done: done}
	srv.Start()
	return srv
}

// NewHandler returns a fresh fake api with no applications, to serve or to
// wrap (with fault injection, say). Its event streams end when their
// clients go; end them before closing a server that serves it.
func NewHandler() http.Handler { return newFake(nil).routes() }

func newFake(done <-chan struct{}) *fake {
	return &fake{apps: map[string]*app{}, appKeys: map[string]record{}, done: done,
		log: eventLog{first: 1, wake: make(chan struct{})}}
}

// closing is a listener whose Close also closes done.
type closing struct {
	net.Listener
	once sync.Once
	done chan struct{}
}

func (l *closing) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// fake is the whole state, under one lock: every request is one atomic step,
// which is what makes a claimed key and its number inseparable.
type fake struct {
	mu      sync.Mutex
	apps    map[string]*app
	appKeys map[string]record // idempotency records of application creation
	log     eventLog
	done    <-chan struct{} // closed when the server closes; nil: never
}

type app struct {
	token, name      string
	created, updated time.Time
	nextChat         int64
	chats            map[int64]*chat
	keys             map[string]record
	settings         settings
}

type chat struct {
	number           int64
	created, updated time.Time
	deleted          bool
	deletedSeq       uint64 // the position of its chat.deleted
	nextMessage      int64
	messages         map[int64]*message
}

type message struct {
	number           int64
	body             string
	created, updated time.Time
	deleted          bool
}

// record is what a replay needs: the original answer, and the request's
// fingerprint to tell a retry from a different request.
type record struct {
	fingerprint string
	status      int
	body        []byte
}

// reply is a handler's answer before encoding.
type reply struct {
	status int
	body   any
	header http.Header
}

func fail(status int, format string, args ...any) reply {
	return reply{status: status, body: map[string]string{"error": fmt.Sprintf(format, args...)}}
}

func ok(status int, body any) reply { return reply{status: status, body: body} }

// request is what a handler gets: the HTTP request and, for writes, the
// payload already decoded (name or body, or a whole JSON body as read).
type request struct {
	*http.Request
	payload string
	now     time.Time
}

type handler func(f *fake, r request) reply

func (f *fake) routes() http.Handler {
	mux := http.NewServeMux()
	read := func(h handler) http.HandlerFunc { return f.serve(h, "", false) }
	write := func(h handler, field string) http.HandlerFunc { return f.serve(h, field, true) }
	const a = "/api/v1/applications/{token}"
	mux.HandleFunc("GET /healthz", read(health))
	mux.HandleFunc("GET /readyz", read(ready))
	mux.HandleFunc("POST /api/v1/applications", write(createApp, "name"))
	mux.HandleFunc("GET "+a, read(getApp))
	mux.HandleFunc("PUT "+a, write(renameApp, "name"))
	mux.HandleFunc("PATCH "+a, write(renameApp, "name"))
	mux.HandleFunc("POST "+a+"/chats", write(createChat, ""))
	mux.HandleFunc("GET "+a+"/chats", read(listChats))
	mux.HandleFunc("GET "+a+"/chats/{chat}", read(getChat))
	mux.HandleFunc("DELETE "+a+"/chats/{chat}", write(deleteChat, ""))
	mux.HandleFunc("POST "+a+"/chats/{chat}/messages", write(postMessage, "body"))
	mux.HandleFunc("GET "+a+"/chats/{chat}/messages", read(listMessages))
	mux.HandleFunc("GET "+a+"/chats/{chat}/messages/search", read(searchMessages))
	mux.HandleFunc("GET "+a+"/chats/{chat}/messages/{message}", read(getMessage))
	mux.HandleFunc("PUT "+a+"/chats/{chat}/messages/{message}", write(updateMessage, "body"))
	mux.HandleFunc("PATCH "+a+"/chats/{chat}/messages/{message}", write(updateMessage, "body"))
	mux.HandleFunc("DELETE "+a+"/chats/{chat}/messages/{message}", write(deleteMessage, ""))
	// Settings writes take no idempotency key: their preconditions make
	// them safe to repeat, as on the api.
	mux.HandleFunc("GET "+a+"/settings", read(getSettings))
	mux.HandleFunc("PUT "+a+"/settings", f.serve(changeSettings, wholeBody, false))
	mux.HandleFunc("PATCH "+a+"/settings", f.serve(changeSettings, wholeBody, false))
	mux.HandleFunc("POST "+a+"/settings/webhooks/{id}/rotate-secret", f.serve(rotateSecret, optionalBody, false))
	mux.HandleFunc("GET "+a+"/events", f.events)
	mux.HandleFunc("GET "+a+"/chats/{chat}/events", f.events)
	mux.HandleFunc("/admin/", f.serve(admin, "", false))
	return mux
}

// serve runs h under the lock. For a write it decodes the payload field
// (when the route takes a body) and applies the Idempotency-Key rules.
func (f *fake) serve(h handler, field string, isWrite bool) http.HandlerFunc {
	return func(w http.ResponseWriter, hr *http.Request) {
		r := request{Request: hr, now: time.Now().UTC()}
		var rep reply
		var replayed *record
		func() {
			if field != "" {
				payload, bad := decodePayload(hr, field)
				if bad != nil {
					rep = *bad
					return
				}
				r.payload = payload
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if !isWrite {
				rep = h(f, r)
				return
			}
			rep, replayed = f.idempotent(h, r)
		}()
		if replayed != nil {
			w.Header().Set("Idempotent-Replayed", "true")
			send(w, replayed.status, replayed.body)
			return
		}
		for k, v := range rep.header {
			w.Header()[k] = v
		}
		send(w, rep.status, encode(rep.body))
	}
}

// idempotent runs a write once per key: a key seen before with the same
// request replays its answer; with another request it is a 422. Only
// successes are recorded, as the api does: a refused write had no effect.
func (f *fake) idempotent(h handler, r request) (reply, *record) {
	key, has := r.Header["Idempotency-Key"]
	if !has {
		return h(f, r), nil
	}
	if len(key) != 1 || !validKey(key[0]) {
		return fail(http.StatusBadRequest, "Idempotency-Key must be 1–255 printable ASCII characters"), nil
	}
	keys := f.appKeys
	if r.PathValue("token") != "" {
		a := f.apps[r.PathValue("token")]
		if a == nil {
			return h(f, r), nil // 404, nothing to record
		}
		keys = a.keys
	}
	fp := r.Method + "\x00" + r.URL.Path + "\x00" + r.payload
	if rec, seen := keys[key[0]]; seen {
		if rec.fingerprint != fp {
			return fail(http.StatusUnprocessableEntity, "Idempotency-Key was first used for a different request (method, path or body); use a new key for a new request"), nil
		}
		return reply{}, &rec
	}
	rep := h(f, r)
	if rep.status >= 200 && rep.status < 300 {
		keys[key[0]] = record{fingerprint: fp, status: rep.status, body: encode(rep.body)}
	}
	return rep, nil
}

func validKey(k string) bool {
	if len(k) < 1 || len(k) > maxKeyLength {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// decodePayload reads the JSON body's field, flat or wrapped as Rails
// clients send it ({"application": {"name"}}, {"message": {"body"|"text"}}).
func decodePayload(r *http.Request, field string) (string, *reply) {
	bad := func(rep reply) (string, *reply) { return "", &rep }
	if field == wholeBody || field == optionalBody {
		data, rep := readJSON(r, field == optionalBody)
		return string(data), rep
	}
	data, rep := readJSON(r, false)
	if rep != nil {
		return "", rep
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return bad(fail(http.StatusBadRequest, "request body must be a JSON object"))
	}
	get := func(doc map[string]json.RawMessage, names ...string) (string, bool) {
		for _, n := range names {
			if raw, ok := doc[n]; ok {
				var s string
				if json.Unmarshal(raw, &s) == nil {
					return s, true
				}
			}
		}
		return "", false
	}
	v, found := get(doc, field)
	if !found {
		wrapper, alt := "application", []string{"name"}
		if field == "body" {
			wrapper, alt = "message", []string{"body", "text"}
		}
		var inner map[string]json.RawMessage
		if raw, ok := doc[wrapper]; ok && json.Unmarshal(raw, &inner) == nil {
			v, found = get(inner, alt...)
		}
	}
	if !found {
		return bad(fail(http.StatusBadRequest, "%s is required", field))
	}
	if field == "name" {
		v = strings.TrimSpace(v)
		if v == "" || utf8.RuneCountInString(v) > maxNameLength {
			return bad(fail(http.StatusBadRequest, "name must be 1 to %d characters, not blank", maxNameLength))
		}
		return v, nil
	}
	if strings.IndexFunc(v, func(c rune) bool { return !unicode.IsSpace(c) }) < 0 {
		return bad(fail(http.StatusBadRequest, "body must not be blank"))
	}
	if len(v) > maxBodyBytes {
		return bad(fail(http.StatusBadRequest, "body must be at most %d bytes", maxBodyBytes))
	}
	return v, nil
}

// Payload fields that are the whole JSON body, for handlers that decode it
// themselves; an optional one may be empty.
const (
	wholeBody    = "{}"
	optionalBody = "{}?"
)

// readJSON reads a JSON request body as the api does: Content-Type, size
// and UTF-8 checked. With optional, an empty body is fine without a type.
func readJSON(r *http.Request, optional bool) ([]byte, *reply) {
	bad := func(rep reply) ([]byte, *reply) { return nil, &rep }
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	isJSON := err == nil && mt == "application/json"
	if !isJSON && !optional {
		return bad(fail(http.StatusUnsupportedMediaType, "Content-Type must be application/json"))
	}
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxRequestBody))
	switch {
	case err != nil:
		return bad(fail(http.StatusRequestEntityTooLarge, "request body must be at most %d bytes", maxRequestBody))
	case len(data) == 0 && optional:
		return nil, nil
	case !isJSON:
		return bad(fail(http.StatusUnsupportedMediaType, "Content-Type must be application/json"))
	}
	if !utf8.Valid(data) {
		return bad(fail(http.StatusBadRequest, "request body must be valid UTF-8"))
	}
	return data, nil
}

func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": "internal error"})
	}
	return append(b, '\n')
}

func send(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Request-ID", newID(8))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func newID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// number reads a path number in its one canonical spelling, as the api does.
func number(r request, name string) (int64, *reply) {
	raw := r.PathValue(name)
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 1 || raw != strconv.FormatInt(n, 10) {
		rep := fail(http.StatusBadRequest, "%s number must be a positive integer written without sign, spaces or leading zeros", name)
		return 0, &rep
	}
	return n, nil
}
