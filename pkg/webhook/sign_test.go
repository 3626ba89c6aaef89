package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	testSecret  = "whsec_dGVzdC1zZWNyZXQtZm9yLXVuaXQtdGVzdHMtb25seQ"
	testSecret2 = "whsec_second"
	testBody    = `{"type":"message.create","chat":1}`
	testUnix    = 1700000000
)

// hmacHex is the v1 value computed here with crypto/hmac, independently of
// Sign.
func hmacHex(secret string, unix int64, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(unix, 10) + "." + body))
	return hex.EncodeToString(m.Sum(nil))
}

func TestSignKnownVector(t *testing.T) {
	// Computed with: printf '%s.%s' 1700000000 "$body" | openssl dgst -sha256 -hmac "$secret"
	const want = "t=1700000000,v1=d712d44b01eb1c1ff39dbb0bd8f478ba65fb12938400d8125e2b4f21c1707a36"
	got := Sign([]string{testSecret}, time.Unix(testUnix, 999_000_000), []byte(testBody))
	if got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
	if v1 := hmacHex(testSecret, testUnix, testBody); !strings.HasSuffix(want, v1) {
		t.Errorf("crypto/hmac gives %s, want the vector's %s", v1, want)
	}
}

func TestSignSeveralSecrets(t *testing.T) {
	got := Sign([]string{testSecret, testSecret2}, time.Unix(testUnix, 0), []byte(testBody))
	want := "t=1700000000,v1=" + hmacHex(testSecret, testUnix, testBody) + ",v1=" + hmacHex(testSecret2, testUnix, testBody)
	if got != want {
		t.Errorf("Sign with two secrets = %q, want %q", got, want)
	}
	if !strings.HasSuffix(got, "ba2958e79be8d391002a1fe0c50a9d9c4c9d740a8fdc02e9e082839e6e24d0cb") {
		t.Errorf("second v1 of %q is not the openssl value", got)
	}
	if got := Sign(nil, time.Unix(testUnix, 0), []byte(testBody)); got != "t=1700000000" {
		t.Errorf("Sign without secrets = %q, want %q", got, "t=1700000000")
	}
}

// TestSignOpenSSL runs the verification one-liner that the documentation
// gives receivers.
func TestSignOpenSSL(t *testing.T) {
	if _, err := os.Stat("/usr/bin/openssl"); err != nil {
		t.Skip("no /usr/bin/openssl")
	}
	now := time.Now()
	body := `{"type":"message.update","body":"naïve café ☕ 'quoted' \"double\" 100%"}`
	cmd := exec.Command("/bin/sh", "-c", `printf '%s.%s' "$t" "$body" | /usr/bin/openssl dgst -sha256 -hmac "$secret"`)
	cmd.Env = append(os.Environ(), "t="+strconv.FormatInt(now.Unix(), 10), "body="+body, "secret="+testSecret)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl: %v", err)
	}
	fields := strings.Fields(string(out))
	v1 := fields[len(fields)-1]
	sig := Sign([]string{testSecret}, now, []byte(body))
	if want := "t=" + strconv.FormatInt(now.Unix(), 10) + ",v1=" + v1; sig != want {
		t.Errorf("Sign = %q, openssl gives %q", sig, want)
	}
}

func TestNewSecret(t *testing.T) {
	a, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Errorf("two secrets are both %q", a)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(a, SecretPrefix))
	if !strings.HasPrefix(a, "whsec_") || len(a) != 49 || err != nil || len(raw) != 32 {
		t.Errorf("NewSecret = %q (%d chars), want whsec_ and 32 bytes in unpadded base64url", a, len(a))
	}
}
