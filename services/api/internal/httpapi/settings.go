package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/instachat/instachat/pkg/settings"
	"github.com/instachat/instachat/services/api/internal/chats"
)

// SettingsResponse is an application's settings document (ADR 0016). Null
// fields take the server's defaults.
type SettingsResponse struct {
	Version        int64             `json:"version" example:"3"`
	MaxBodyBytes   *int              `json:"max_body_bytes" example:"2000"`
	WriteRateLimit *string           `json:"write_rate_limit" example:"50/1s,burst=100"`
	Events         []string          `json:"events" example:"message.created,message.updated"`
	Webhooks       []WebhookResponse `json:"webhooks"`
	UpdatedAt      *string           `json:"updated_at"`
} // @name Settings

// WebhookResponse is one webhook endpoint. Secret is present only in the
// answer of the write that created the endpoint or rotated its secret.
type WebhookResponse struct {
	ID                  string   `json:"id" example:"wh_01jdx3k4m5n6p7q8r9s0t1v2w3"`
	URL                 string   `json:"url" example:"https://example.com/hooks/instachat"`
	Events              []string `json:"events"`
	Active              bool     `json:"active"`
	PausedReason        string   `json:"paused_reason,omitempty"`
	PausedAt            *string  `json:"paused_at,omitempty"`
	Secret              string   `json:"secret,omitempty" example:"whsec_…"`
	SecretHint          string   `json:"secret_hint" example:"whsec_Tq9…"`
	PreviousSecretUntil *string  `json:"previous_secret_until,omitempty"`
	CreatedAt           string   `json:"created_at"`
} // @name Webhook

// SettingsRequest documents what PUT and PATCH take (settings.Change
// decodes it): PUT sets every field (absent ones take their defaults), PATCH
// only those it names; webhooks are replaced whole, an entry with an id keeps
// its secret and its pause.
type SettingsRequest struct {
	Version        *int64           `json:"version" example:"3"`
	MaxBodyBytes   *int             `json:"max_body_bytes" example:"2000"`
	WriteRateLimit *string          `json:"write_rate_limit" example:"50/1s,burst=100"`
	Events         []string         `json:"events"`
	Webhooks       []WebhookRequest `json:"webhooks"`
} // @name SettingsRequest

// WebhookRequest is one endpoint as a client writes it.
type WebhookRequest = settings.WebhookInput // @name WebhookRequest

// RotateRequest is the optional body of a secret rotation.
type RotateRequest struct {
	Overlap string `json:"overlap" example:"24h"`
} // @name RotateRequest

// getSettings godoc
//
//	@Summary		Read an application's settings
//	@Description	Its customizations (body limit, write rate limit, the event types its live streams and webhooks carry) and its webhook endpoints, without their secrets. ETag is the version a write must name.
//	@Tags			settings
//	@Produce		json
//	@Param			token	path		string	true	"application token"
//	@Success		200		{object}	SettingsResponse
//	@Header			200		{string}	ETag	"\"<version>\""
//	@Failure		404		{object}	ErrorResponse	"unknown token"
//	@Failure		503		{object}	ErrorResponse	"MySQL unavailable"
//	@Router			/api/v1/applications/{token}/settings [get]
func (h *handlers) getSettings(c *gin.Context) {
	s, err := h.svc.Settings(c.Request.Context(), c.Param("token"))
	if err != nil {
		h.respondErr(c, err)
		return
	}
	respondSettings(c, s, nil)
}

// changeSettings godoc
//
//	@Summary		Change an application's settings
//	@Description	PUT replaces the document (absent fields take their defaults), PATCH changes the fields it names. The write must name the version it changes: If-Match: "<version>" (412 when stale) or a version field (409 when stale); neither is 428. A webhook without an id is created: its secret is in this answer only. Webhook URLs must be HTTPS and resolve to public addresses (the operator may allow others).
//	@Tags			settings
//	@Accept			json
//	@Produce		json
//	@Param			token		path		string			true	"application token"
//	@Param			If-Match	header		string			false	"\"<version>\" as in ETag, or *"
//	@Param			request		body		SettingsRequest	true	"the settings"
//	@Success		200			{object}	SettingsResponse
//	@Header			200			{string}	ETag	"\"<version>\""
//	@Failure		400			{object}	ErrorResponse	"invalid settings, or a webhook URL the server does not allow"
//	@Failure		404			{object}	ErrorResponse	"unknown token"
//	@Failure		409			{object}	ErrorResponse	"the version field is not the current version"
//	@Failure		412			{object}	ErrorResponse	"If-Match is not the current version"
//	@Failure		428			{object}	ErrorResponse	"neither If-Match nor a version field"
//	@Failure		503			{object}	ErrorResponse	"MySQL unavailable"
//	@Router			/api/v1/applications/{token}/settings [put]
//	@Router			/api/v1/applications/{token}/settings [patch]
func (h *handlers) changeSettings(c *gin.Context) {
	var change settings.Change
	if !bindJSON(c, &change) {
		return
	}
	change.Replace = c.Request.Method == http.MethodPut
	if change.WriteRateLimit.Set && !change.WriteRateLimit.Null {
		if _, err := ParseLimit(change.WriteRateLimit.Value); err != nil {
			fail(c, http.StatusBadRequest, "write_rate_limit "+err.Error())
			return
		}
	}
	pre, ok := precondition(c)
	if !ok {
		return
	}
	s, created, err := h.svc.ChangeSettings(c.Request.Context(), c.Param("token"), change, pre)
	if err != nil {
		h.respondSettingsErr(c, err)
		return
	}
	respondSettings(c, s, created)
}

// rotateSecret godoc
//
//	@Summary		Rotate a webhook's signing secret
//	@Description	The new secret is in this answer only. For the overlap (default 24h, at most 168h) deliveries carry a signature with each secret, so receivers can switch without losing any.
//	@Tags			settings
//	@Accept			json
//	@Produce		json
//	@Param			token		path		string			true	"application token"
//	@Param			id			path		string			true	"webhook id"
//	@Param			If-Match	header		string			false	"\"<version>\" as in ETag"
//	@Param			request		body		RotateRequest	false	"the overlap"
//	@Success		200			{object}	SettingsResponse
//	@Failure		400			{object}	ErrorResponse	"invalid overlap"
//	@Failure		404			{object}	ErrorResponse	"unknown token or webhook"
//	@Failure		412			{object}	ErrorResponse	"If-Match is not the current version"
//	@Router			/api/v1/applications/{token}/settings/webhooks/{id}/rotate-secret [post]
func (h *handlers) rotateSecret(c *gin.Context) {
	var req RotateRequest
	if c.Request.ContentLength != 0 && !bindJSON(c, &req) {
		return
	}
	var overlap time.Duration
	if req.Overlap != "" {
		d, err := time.ParseDuration(req.Overlap)
		if err != nil {
			fail(c, http.StatusBadRequest, `overlap must be a duration such as "24h" or "90m"`)
			return
		}
		overlap = d
	}
	pre, ok := precondition(c)
	if !ok {
		return
	}
	s, made, err := h.svc.RotateSecret(c.Request.Context(), c.Param("token"), c.Param("id"), overlap, pre)
	if err != nil {
		h.respondSettingsErr(c, err)
		return
	}
	respondSettings(c, s, []settings.Created{made})
}

// precondition reads If-Match: a quoted (or weak) version, or * for any.
func precondition(c *gin.Context) (chats.Precondition, bool) {
	v := strings.TrimSpace(c.GetHeader("If-Match"))
	if v == "" || v == "*" {
		if v == "*" {
			return chats.Precondition{Any: true}, true
		}
		return chats.Precondition{}, true
	}
	n, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(v, "W/"), `"`), 10, 64)
	if err != nil || n < 0 {
		fail(c, http.StatusBadRequest, `If-Match must be "<version>" as the settings' ETag gives it, or *`)
		return chats.Precondition{}, false
	}
	return chats.Precondition{IfMatch: &n}, true
}

// respondSettingsErr maps the preconditions' errors, then the rest.
func (h *handlers) respondSettingsErr(c *gin.Context, err error) {
	switch {
	case errors.Is(err, chats.ErrPreconditionRequired):
		fail(c, http.StatusPreconditionRequired, err.Error())
	case errors.Is(err, chats.ErrPreconditionFailed):
		fail(c, http.StatusPreconditionFailed, err.Error())
	default:
		h.respondErr(c, err)
	}
}

// respondSettings answers s, with the secrets of the endpoints created.
func respondSettings(c *gin.Context, s settings.Settings, created []settings.Created) {
	c.Header("ETag", `"`+strconv.FormatInt(s.Version, 10)+`"`)
	c.JSON(http.StatusOK, settingsResponse(s, created))
}

func settingsResponse(s settings.Settings, created []settings.Created) SettingsResponse {
	r := SettingsResponse{Version: s.Version, Events: s.Events, Webhooks: []WebhookResponse{}}
	if s.MaxBodyBytes > 0 {
		r.MaxBodyBytes = &s.MaxBodyBytes
	}
	if s.WriteRateLimit != "" {
		r.WriteRateLimit = &s.WriteRateLimit
	}
	if !s.UpdatedAt.IsZero() {
		r.UpdatedAt = timeString(s.UpdatedAt)
	}
	for _, w := range s.Webhooks {
		wr := WebhookResponse{ID: w.ID, URL: w.URL, Events: w.Events, Active: w.Active, PausedReason: w.PausedReason,
			SecretHint: hint(w.Secrets[0]), CreatedAt: *timeString(w.CreatedAt)}
		if w.PausedAt != nil {
			wr.PausedAt = timeString(*w.PausedAt)
		}
		if w.PreviousUntil != nil && len(w.Secrets) > 1 {
			wr.PreviousSecretUntil = timeString(*w.PreviousUntil)
		}
		for _, made := range created {
			if made.ID == w.ID {
				wr.Secret = made.Secret
			}
		}
		r.Webhooks = append(r.Webhooks, wr)
	}
	return r
}

// hint shows enough of a secret to tell which one it is.
func hint(secret string) string {
	const shown = len("whsec_") + 4
	if len(secret) <= shown {
		return "…"
	}
	return secret[:shown] + "…"
}

func timeString(t time.Time) *string {
	s := t.UTC().Format("2006-01-02T15:04:05.000000Z07:00")
	return &s
}
