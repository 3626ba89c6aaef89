package webhook

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestDeliverHeadersAndBody(t *testing.T) {
	var got *http.Request
	var gotBody string
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		got = r
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"received":true}`))
	})
	p, _ := mustPolicy(t, "127.0.0.1")
	d := Delivery{
		URL: rc.URL + "/hooks/instachat?app=1", Body: []byte(testBody), ID: "8c1f0e5e-delivery", Attempt: 3,
		Event: "message.create", Position: "2-417", Secrets: []string{testSecret, testSecret2},
		Now: time.Unix(testUnix, 0),
	}
	r := Deliver(context.Background(), p.Client(time.Second), d)
	if !r.OK() || r.Kind != KindOK || r.Status != http.StatusAccepted || r.Excerpt != `{"received":true}` || r.Error != "" {
		t.Fatalf("got %+v, want 202 ok with the excerpt", r)
	}
	if r.Duration <= 0 || r.Duration > time.Second {
		t.Errorf("Duration = %v", r.Duration)
	}
	if got.Method != http.MethodPost || got.URL.RequestURI() != "/hooks/instachat?app=1" || gotBody != testBody {
		t.Errorf("receiver got %s %s with body %q, want POST /hooks/instachat?app=1 with %q", got.Method, got.URL.RequestURI(), gotBody, testBody)
	}
	want := map[string]string{
		"Content-Type":      "application/json",
		"User-Agent":        "InstaChat-Webhooks/1",
		HeaderDelivery:      "8c1f0e5e-delivery",
		HeaderAttempt:       "3",
		HeaderEvent:         "message.create",
		HeaderEventPosition: "2-417",
		HeaderSignature:     "t=1700000000,v1=" + hmacHex(testSecret, testUnix, testBody) + ",v1=" + hmacHex(testSecret2, testUnix, testBody),
	}
	for name, v := range want {
		if g := got.Header.Get(name); g != v {
			t.Errorf("header %s = %q, want %q", name, g, v)
		}
	}
	for _, secret := range []string{testSecret, testSecret2} {
		if !verify(got.Header.Get(HeaderSignature), gotBody, secret) {
			t.Errorf("the signature does not verify with %s", secret)
		}
	}
	if verify(got.Header.Get(HeaderSignature), gotBody, "whsec_other") {
		t.Error("the signature verifies with a secret that did not sign it")
	}
	if verify(got.Header.Get(HeaderSignature), gotBody+" ", testSecret) {
		t.Error("the signature verifies for a different body")
	}
}

// verify is what a receiver does: recompute the HMAC over "<t>.<body>" and
// accept any v1 that matches.
func verify(header, body, secret string) bool {
	var ts string
	var sigs []string
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + body))
	want := m.Sum(nil)
	for _, s := range sigs {
		if got, err := hex.DecodeString(s); err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

func TestDeliverNon2xx(t *testing.T) {
	p, _ := mustPolicy(t, "127.0.0.1")
	for _, status := range []int{http.StatusNotModified, http.StatusBadRequest, http.StatusGone, http.StatusInternalServerError, 599} {
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			_, _ = w.Write([]byte("nope"))
		})
		r := deliverTo(t, p, time.Second, rc.URL)
		wantResult(t, r, KindHTTPError, status, "receiver answered "+itoa(status))
		if r.OK() {
			t.Errorf("status %d: OK() = true", status)
		}
	}
}

func TestExcerpt(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", ""},
		{"short", `{"ok":true}`, `{"ok":true}`},
		{"exactly the maximum", strings.Repeat("a", MaxExcerpt), strings.Repeat("a", MaxExcerpt)},
		{"rune cut at the end", strings.Repeat("a", MaxExcerpt-1) + "é"[:1], strings.Repeat("a", MaxExcerpt-1)},
		{"4-byte rune cut", strings.Repeat("a", MaxExcerpt-3) + "😀"[:3], strings.Repeat("a", MaxExcerpt-3)},
		{"whole rune at the end", strings.Repeat("a", MaxExcerpt-2) + "é", strings.Repeat("a", MaxExcerpt-2) + "é"},
		{"invalid bytes", "ok\xff\xfe!", "ok\uFFFD!"},
	}
	for _, tt := range tests {
		if got := excerpt([]byte(tt.in)); got != tt.want {
			t.Errorf("%s: excerpt = %q, want %q", tt.name, got, tt.want)
		}
	}
	// Replacement characters are longer than the bytes they replace; the
	// result must still fit.
	in := []byte(strings.Repeat("a\xff", MaxExcerpt/2))
	got := excerpt(in)
	if !utf8.ValidString(got) || len(got) > MaxExcerpt {
		t.Errorf("excerpt of alternating invalid bytes: %d bytes, valid %v; want at most %d valid", len(got), utf8.ValidString(got), MaxExcerpt)
	}
}

func TestDeliverExcerptOfBinaryBody(t *testing.T) {
	p, _ := mustPolicy(t, "127.0.0.1")
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("é\xff", 1000)))
	})
	r := deliverTo(t, p, time.Second, rc.URL)
	if !r.OK() || !utf8.ValidString(r.Excerpt) || len(r.Excerpt) > MaxExcerpt || r.Excerpt == "" {
		t.Errorf("got status %d and a %d-byte excerpt (valid UTF-8 %v), want 200 and at most %d valid bytes",
			r.Status, len(r.Excerpt), utf8.ValidString(r.Excerpt), MaxExcerpt)
	}
}

// TestDeliverHeaderNamesOnTheWire reads the raw request: the header names
// must be spelt as documented, not in Go's canonical "X-Instachat-…" form.
func TestDeliverHeaderNamesOnTheWire(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	head := make(chan string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			head <- ""
			return
		}
		defer conn.Close()
		var b strings.Builder
		br := bufio.NewReader(conn)
		for {
			line, err := br.ReadString('\n')
			b.WriteString(line)
			if err != nil || line == "\r\n" {
				break
			}
		}
		head <- b.String()
		_, _ = conn.Write([]byte("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"))
	}()
	p, _ := mustPolicy(t, "127.0.0.1")
	r := deliverTo(t, p, time.Second, "http://"+ln.Addr().String()+"/hook")
	if r.Status != http.StatusNoContent {
		t.Fatalf("got %+v, want 204", r)
	}
	raw := <-head
	for _, name := range []string{HeaderSignature, HeaderDelivery, HeaderAttempt, HeaderEvent, HeaderEventPosition} {
		if !strings.Contains(raw, "\r\n"+name+": ") {
			t.Errorf("request head has no %q line:\n%s", name, raw)
		}
	}
}
