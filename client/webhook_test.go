package client_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/instachat/instachat/client"
)

// A delivery signed by openssl, not by the code under test:
//
//	printf '%s.%s' "$t" "$body" | openssl dgst -sha256 -hmac "$secret"
const (
	vectorT      = "1795867200" // 2026-11-28T12:00:00Z
	vectorBody   = `{"id":"1-42","type":"message.created","chat":1,"message":7,"body":"Hello, webhooks","accepted_at":"2026-11-28T12:00:00.123456Z"}`
	vectorSecret = "whsec_Tq9xv0mEXAMPLEexampleEXAMPLEexampleEXAMPL"
	vectorMAC    = "3608be6ad6d920804cc3499dcfc7afa842d4ae33fef5e54bbbb101a9c2ffa58c"
)

var vectorTime = time.Unix(1795867200, 0)

func TestVerifyWebhook(t *testing.T) {
	const other = "whsec_another-secret-entirely-0123456789abcdefghij"
	body := []byte(vectorBody)
	header := "t=" + vectorT + ",v1=" + vectorMAC
	cases := []struct {
		name      string
		secrets   []string
		header    string
		body      []byte
		now       time.Time
		tolerance time.Duration
		want      error // nil: verified
	}{
		{"openssl vector", []string{vectorSecret}, header, body, vectorTime, 0, nil},
		{"spaces after commas", []string{vectorSecret}, "t=" + vectorT + ", v1=" + vectorMAC, body, vectorTime, 0, nil},
		{"unknown scheme ignored", []string{vectorSecret}, "t=" + vectorT + ",v0=abc,v1=" + vectorMAC, body, vectorTime, 0, nil},
		{"tampered body", []string{vectorSecret}, header, bytes.Replace(body, []byte("Hello"), []byte("Hullo"), 1), vectorTime, 0, client.ErrWebhookSignature},
		{"body with a trailing newline", []string{vectorSecret}, header, append(append([]byte{}, body...), '\n'), vectorTime, 0, client.ErrWebhookSignature},
		{"wrong secret", []string{other}, header, body, vectorTime, 0, client.ErrWebhookSignature},
		{"secret without its prefix", []string{strings.TrimPrefix(vectorSecret, "whsec_")}, header, body, vectorTime, 0, client.ErrWebhookSignature},
		{"old and new secret held", []string{other, vectorSecret}, header, body, vectorTime, 0, nil},
		{"second signature during an overlap", []string{vectorSecret},
			client.SignWebhook([]string{other}, vectorTime, body) + ",v1=" + vectorMAC, body, vectorTime, 0, nil},
		{"overlap, receiver holds the new secret", []string{other},
			client.SignWebhook([]string{other, vectorSecret}, vectorTime, body), body, vectorTime, 0, nil},
		{"timestamp changed", []string{vectorSecret}, "t=1795867201,v1=" + vectorMAC, body, vectorTime, 0, client.ErrWebhookSignature},
		{"4m59s old", []string{vectorSecret}, header, body, vectorTime.Add(5*time.Minute - time.Second), 0, nil},
		{"5m01s old", []string{vectorSecret}, header, body, vectorTime.Add(5*time.Minute + time.Second), 0, client.ErrWebhookExpired},
		{"an hour old", []string{vectorSecret}, header, body, vectorTime.Add(time.Hour), 0, client.ErrWebhookExpired},
		{"an hour old, tolerance 2h", []string{vectorSecret}, header, body, vectorTime.Add(time.Hour), 2 * time.Hour, nil},
		{"from the future", []string{vectorSecret}, header, body, vectorTime.Add(-10 * time.Minute), 0, client.ErrWebhookExpired},
		{"no header", []string{vectorSecret}, "", body, vectorTime, 0, client.ErrWebhookMalformed},
		{"no timestamp", []string{vectorSecret}, "v1=" + vectorMAC, body, vectorTime, 0, client.ErrWebhookMalformed},
		{"no signature", []string{vectorSecret}, "t=" + vectorT, body, vectorTime, 0, client.ErrWebhookMalformed},
		{"two timestamps", []string{vectorSecret}, "t=" + vectorT + ",t=" + vectorT + ",v1=" + vectorMAC, body, vectorTime, 0, client.ErrWebhookMalformed},
		{"timestamp with a sign", []string{vectorSecret}, "t=+" + vectorT + ",v1=" + vectorMAC, body, vectorTime, 0, client.ErrWebhookMalformed},
		{"timestamp not a number", []string{vectorSecret}, "t=" + vectorT + "000x,v1=" + vectorMAC, body, vectorTime, 0, client.ErrWebhookMalformed},
		{"short signature", []string{vectorSecret}, "t=" + vectorT + ",v1=" + vectorMAC[:62], body, vectorTime, 0, client.ErrWebhookMalformed},
		{"not hex", []string{vectorSecret}, "t=" + vectorT + ",v1=" + strings.Repeat("zz", 32), body, vectorTime, 0, client.ErrWebhookMalformed},
		{"no key=value", []string{vectorSecret}, "t=" + vectorT + "," + vectorMAC, body, vectorTime, 0, client.ErrWebhookMalformed},
		{"base64 instead of hex", []string{vectorSecret}, "t=" + vectorT + ",v1=NgiF", body, vectorTime, 0, client.ErrWebhookMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := client.VerifyWebhook(tc.secrets, tc.header, tc.body, tc.now, tc.tolerance)
			switch {
			case tc.want == nil && err != nil:
				t.Errorf("got %v, want verified", err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerifyWebhookNeedsASecret(t *testing.T) {
	for _, secrets := range [][]string{nil, {""}} {
		err := client.VerifyWebhook(secrets, "t="+vectorT+",v1="+vectorMAC, []byte(vectorBody), vectorTime, 0)
		if err == nil || errors.Is(err, client.ErrWebhookSignature) {
			t.Errorf("secrets %q: got %v, want an error saying there is no secret", secrets, err)
		}
	}
}

func TestSignWebhookMatchesTheVector(t *testing.T) {
	got := client.SignWebhook([]string{vectorSecret}, vectorTime, []byte(vectorBody))
	if want := "t=" + vectorT + ",v1=" + vectorMAC; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestVerifyWebhookAgainstOpenSSL signs bodies with openssl, when there is
// one, as the README's shell recipe does.
func TestVerifyWebhookAgainstOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("no openssl")
	}
	now := time.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	for _, body := range []string{`{"type":"chat.created","chat":3}`, "line one\nline two\n", "ünïcödé, 'quotes' and \"double\""} {
		cmd := exec.Command(openssl, "dgst", "-sha256", "-hmac", vectorSecret)
		cmd.Stdin = strings.NewReader(ts + "." + body)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("openssl: %v", err)
		}
		fields := strings.Fields(string(out))
		header := "t=" + ts + ",v1=" + fields[len(fields)-1]
		if err := client.VerifyWebhook([]string{vectorSecret}, header, []byte(body), now, 0); err != nil {
			t.Errorf("body %q signed by openssl: %v", body, err)
		}
	}
}

func TestParseWebhook(t *testing.T) {
	body := []byte(vectorBody)
	req := func(header string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/hooks/instachat", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set(client.HeaderWebhookSignature, header)
		r.Header.Set(client.HeaderWebhookDelivery, "dlv_1")
		r.Header.Set(client.HeaderWebhookAttempt, "2")
		r.Header.Set(client.HeaderWebhookEvent, "message.created")
		r.Header.Set(client.HeaderWebhookPosition, "1-42")
		return r
	}
	now := time.Now()
	ev, d, err := client.ParseWebhook(req(client.SignWebhook([]string{vectorSecret}, now, body)), []string{vectorSecret})
	if err != nil {
		t.Fatal(err)
	}
	want := client.Event{ID: "1-42", Type: client.EventMessageCreated, Chat: 1, Message: 7, Body: "Hello, webhooks",
		AcceptedAt: time.Date(2026, 11, 28, 12, 0, 0, 123456000, time.UTC)}
	if ev.ID != want.ID || ev.Type != want.Type || ev.Chat != want.Chat || ev.Message != want.Message || ev.Body != want.Body || !ev.AcceptedAt.Equal(want.AcceptedAt) {
		t.Errorf("event: got %+v, want %+v", ev, want)
	}
	if d.ID != "dlv_1" || d.Attempt != 2 || d.SignedAt.Unix() != now.Unix() {
		t.Errorf("delivery: got %+v, want dlv_1, attempt 2, signed at %v", d, now.Truncate(time.Second))
	}
	// The openssl vector is long expired by now: a replay.
	if _, _, err := client.ParseWebhook(req("t="+vectorT+",v1="+vectorMAC), []string{vectorSecret}); !errors.Is(err, client.ErrWebhookExpired) {
		t.Errorf("the vector replayed: got %v, want ErrWebhookExpired", err)
	}
	if _, _, err := client.ParseWebhook(req(client.SignWebhook([]string{"whsec_other"}, now, body)), []string{vectorSecret}); !errors.Is(err, client.ErrWebhookSignature) {
		t.Errorf("signed with another secret: got %v, want ErrWebhookSignature", err)
	}
	big := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(make([]byte, client.MaxWebhookBytes+1)))
	if _, _, err := client.ParseWebhook(big, []string{vectorSecret}); err == nil {
		t.Error("a body over MaxWebhookBytes was read")
	}
}
