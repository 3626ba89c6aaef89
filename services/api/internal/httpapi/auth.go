package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// bearerToken reads "Authorization: Bearer <token>" strictly (RFC 6750 §2.1):
// the scheme in any case (RFC 9110 §11.1), then exactly one space, then a
// token with no whitespace in or around it. A bare token, another scheme or
// a sloppy spelling is not a bearer credential.
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t\r\n") {
		return "", false
	}
	return token, true
}

// sameSecret compares a presented secret with the configured one in constant
// time; comparing digests reveals neither the secret nor its length. An empty
// configured secret matches nothing.
func sameSecret(got, want string) bool {
	if want == "" {
		return false
	}
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// requireInternalToken refuses callers that do not present the shared secret
// as "Authorization: Bearer <token>".
func (h *handlers) requireInternalToken(c *gin.Context) {
	got, ok := bearerToken(c.GetHeader("Authorization"))
	if !ok || !sameSecret(got, h.cfg.InternalToken) {
		fail(c, http.StatusUnauthorized, "internal endpoint: missing or wrong credentials (want Authorization: Bearer <token>)")
		return
	}
	c.Next()
}

// sameOrigin refuses a state-changing request (any method but GET, HEAD and
// OPTIONS) that a browser sent on another site's behalf: Sec-Fetch-Site
// cross-site or same-site, or, from browsers that do not send it, an Origin
// whose host is not the request's Host. A browser attaches cached Basic
// credentials to such requests, so the credential alone does not show that
// the admin meant them. Clients that are not browsers send neither header and
// pass. It is net/http's CrossOriginProtection, the check the dashboard's
// forms also pass, applied to the whole /admin group.
func sameOrigin() gin.HandlerFunc {
	guard := http.NewCrossOriginProtection()
	return func(c *gin.Context) {
		if err := guard.Check(c.Request); err != nil {
			fail(c, http.StatusForbidden, "cross-origin request refused: admin endpoints accept state changes only from their own origin")
			return
		}
		c.Next()
	}
}
