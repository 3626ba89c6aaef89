package config

import (
	"fmt"
	"strings"
)

// MinSecretLen is the shortest INTERNAL_TOKEN or ADMIN_TOKEN a service
// accepts: 32 characters, what `openssl rand -hex 16` prints.
const MinSecretLen = 32

// placeholderPrefixes start the values that examples, templates and old
// deployment files ship instead of a secret (compared in lower case).
var placeholderPrefixes = []string{
	"change-me", "change_me", "changeme", "changethis", "secret", "password", "passwd",
	"example", "placeholder", "replace-me", "replaceme", "dummy", "default", "todo", "xxx",
}

// placeholderValues are exact values this repository shipped before secrets
// were required, or that people type when a form asks for one.
var placeholderValues = []string{"change-me-dev-only", "change-me", "admin", "root", "secret", "test", "token"}

// Placeholder reports whether v is a value shipped in examples rather than a
// secret: a known placeholder, or one character or a short pattern repeated
// (fewer than 6 distinct characters). Comparisons ignore case.
func Placeholder(v string) bool {
	l := strings.ToLower(strings.TrimSpace(v))
	for _, p := range placeholderValues {
		if l == p {
			return true
		}
	}
	for _, p := range placeholderPrefixes {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	distinct := map[rune]bool{}
	for _, r := range l {
		distinct[r] = true
	}
	return l != "" && len(distinct) < 6
}

// Secret returns a shared secret such as INTERNAL_TOKEN or ADMIN_TOKEN and
// records an error, naming the variable but never its value, when it is a
// placeholder (see Placeholder), shorter than MinSecretLen, or unset while
// required. Unset and not required returns "": the feature it guards is off.
func (e *Env) Secret(key, why string, required bool) string {
	v := e.getenv(key)
	var err error
	switch {
	case v == "" && required:
		err = fmt.Errorf("%s must be set: %s; use a random value of at least %d characters (openssl rand -hex 32)", key, why, MinSecretLen)
	case v == "":
	case Placeholder(v):
		err = fmt.Errorf("%s is a placeholder, not a secret (%s): set a random value of at least %d characters (openssl rand -hex 32)", key, why, MinSecretLen)
	case len(v) < MinSecretLen:
		err = fmt.Errorf("%s is %d characters, want at least %d (%s): set a random value (openssl rand -hex 32)", key, len(v), MinSecretLen, why)
	}
	if err != nil && e.err == nil {
		e.err = err
	}
	return v
}
