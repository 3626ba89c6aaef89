package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/settings"
)

// SettingsStore reads and writes applications' settings (migration 0012),
// opening and sealing webhook secrets with its Sealer.
type SettingsStore struct {
	s      *Store
	sealer *settings.Sealer
}

// Settings returns the settings store over s.
func (s *Store) Settings(sealer *settings.Sealer) *SettingsStore {
	return &SettingsStore{s: s, sealer: sealer}
}

type settingsRow struct {
	ApplicationID  int64
	Version        int64
	MaxBodyBytes   sql.NullInt64
	WriteRateLimit sql.NullString
	Events         sql.NullString
	UpdatedAt      time.Time
}

type webhookRow struct {
	PublicID             string
	Position             int
	URL                  string
	Events               sql.NullString
	Active               bool
	PausedReason         sql.NullString
	PausedAt             sql.NullTime
	SecretSealed         []byte
	PreviousSecretSealed []byte
	PreviousUntil        sql.NullTime
	CreatedAt            time.Time
}

// LoadSettings returns the settings of the application whose token digest is
// app (settings.Loader): the defaults at version 0 if it never wrote any.
func (ss *SettingsStore) LoadSettings(ctx context.Context, app string) (settings.Settings, error) {
	db := ss.s.db.WithContext(ctx)
	id, err := appIDOf(db, app, false)
	if err != nil {
		return settings.Settings{}, err
	}
	return ss.load(db, id)
}

// Update changes the settings of the application whose token digest is app
// in one transaction: change gets the current settings (its row locked) and
// returns the new ones, or an error that aborts. It returns what was saved.
func (ss *SettingsStore) Update(ctx context.Context, app string, change func(cur settings.Settings) (settings.Settings, error)) (settings.Settings, error) {
	var saved settings.Settings
	err := ss.s.db.WithContext(ctx).Transaction(func(db *gorm.DB) error {
		id, err := appIDOf(db, app, true)
		if err != nil {
			return err
		}
		cur, err := ss.load(db, id)
		if err != nil {
			return err
		}
		next, err := change(cur)
		if err != nil {
			return err
		}
		if next.Version <= cur.Version {
			return nil // nothing to write
		}
		if err := ss.save(db, id, next); err != nil {
			return err
		}
		saved = next
		return nil
	})
	if err != nil {
		return settings.Settings{}, wrapKeep("update settings", err)
	}
	return saved, nil
}

// wrapKeep wraps err unless it is already a client error (it passes as is).
func wrapKeep(op string, err error) error {
	var ce *chat.ClientError
	if errors.As(err, &ce) {
		return err
	}
	return wrap(op, err)
}

// appIDOf resolves a token digest; lock takes the application's row, which
// serializes the settings writes of one application.
func appIDOf(db *gorm.DB, app string, lock bool) (int64, error) {
	q := "SELECT id FROM applications WHERE token_digest = ?"
	if lock {
		q += " FOR UPDATE"
	}
	var ids []int64
	if err := db.Raw(q, app).Scan(&ids).Error; err != nil {
		return 0, wrap("read application", err)
	}
	if len(ids) == 0 {
		return 0, fmt.Errorf("read application: %w", chat.ErrNotFound)
	}
	return ids[0], nil
}

// load reads application id's settings and opens its secrets. In Update,
// the application's row lock (appIDOf) covers both tables.
func (ss *SettingsStore) load(db *gorm.DB, id int64) (settings.Settings, error) {
	var rows []settingsRow
	if err := db.Raw("SELECT * FROM application_settings WHERE application_id = ?", id).Scan(&rows).Error; err != nil {
		return settings.Settings{}, wrap("read settings", err)
	}
	var s settings.Settings
	if len(rows) == 1 {
		r := rows[0]
		s = settings.Settings{Version: r.Version, MaxBodyBytes: int(r.MaxBodyBytes.Int64), WriteRateLimit: r.WriteRateLimit.String,
			Events: splitEvents(r.Events), UpdatedAt: r.UpdatedAt.UTC()}
	}
	var hooks []webhookRow
	if err := db.Raw("SELECT * FROM webhook_endpoints WHERE application_id = ? ORDER BY position", id).Scan(&hooks).Error; err != nil {
		return settings.Settings{}, wrap("read webhooks", err)
	}
	for _, h := range hooks {
		w, err := ss.webhook(h)
		if err != nil {
			return settings.Settings{}, err
		}
		s.Webhooks = append(s.Webhooks, w)
	}
	return s, nil
}

// webhook opens one endpoint row.
func (ss *SettingsStore) webhook(h webhookRow) (settings.Webhook, error) {
	w := settings.Webhook{ID: h.PublicID, URL: h.URL, Events: splitEvents(h.Events), Active: h.Active,
		PausedReason: h.PausedReason.String, CreatedAt: h.CreatedAt.UTC()}
	if h.PausedAt.Valid {
		t := h.PausedAt.Time.UTC()
		w.PausedAt = &t
	}
	if ss.sealer == nil {
		return settings.Webhook{}, fmt.Errorf("webhook %s: this process has no WEBHOOK_KEY to open its secret with", h.PublicID)
	}
	secret, err := ss.sealer.Open(h.PublicID, h.SecretSealed)
	if err != nil {
		return settings.Webhook{}, err
	}
	w.Secrets = []string{secret}
	if h.PreviousSecretSealed != nil {
		prev, err := ss.sealer.Open(h.PublicID, h.PreviousSecretSealed)
		if err != nil {
			return settings.Webhook{}, err
		}
		w.Secrets = append(w.Secrets, prev)
		t := h.PreviousUntil.Time.UTC()
		w.PreviousUntil = &t
	}
	return w, nil
}

// save writes s as application id's settings: the document row, and the
// endpoint rows replaced by s's (sealing each secret anew).
func (ss *SettingsStore) save(db *gorm.DB, id int64, s settings.Settings) error {
	err := db.Exec(`INSERT INTO application_settings (application_id, version, max_body_bytes, write_rate_limit, events, updated_at)
VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE version = VALUES(version), max_body_bytes = VALUES(max_body_bytes),
write_rate_limit = VALUES(write_rate_limit), events = VALUES(events), updated_at = VALUES(updated_at)`,
		id, s.Version, nullInt(s.MaxBodyBytes), nullable(s.WriteRateLimit), joinEvents(s.Events), s.UpdatedAt).Error
	if err != nil {
		return wrap("write settings", err)
	}
	if err := db.Exec("DELETE FROM webhook_endpoints WHERE application_id = ?", id).Error; err != nil {
		return wrap("write webhooks", err)
	}
	for i, w := range s.Webhooks {
		if err := ss.insertWebhook(db, id, i, w, s.UpdatedAt); err != nil {
			return err
		}
	}
	return nil
}

func (ss *SettingsStore) insertWebhook(db *gorm.DB, id int64, position int, w settings.Webhook, now time.Time) error {
	if ss.sealer == nil {
		return fmt.Errorf("webhook %s: this process has no WEBHOOK_KEY to seal its secret with", w.ID)
	}
	sealed, err := ss.sealer.Seal(w.ID, w.Secrets[0])
	if err != nil {
		return err
	}
	var prev []byte
	var until any
	if len(w.Secrets) > 1 {
		if prev, err = ss.sealer.Seal(w.ID, w.Secrets[1]); err != nil {
			return err
		}
		until = *w.PreviousUntil
	}
	var pausedAt any
	if w.PausedAt != nil {
		pausedAt = *w.PausedAt
	}
	err = db.Exec(`INSERT INTO webhook_endpoints (application_id, public_id, position, url, events, active, paused_reason, paused_at,
secret_sealed, previous_secret_sealed, previous_until, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		id, w.ID, position, w.URL, joinEvents(w.Events), w.Active, nullable(w.PausedReason), pausedAt,
		sealed, prev, until, w.CreatedAt, now).Error
	return wrap("write webhook", err)
}

// Events lists are stored comma-separated; NULL is every type.
func joinEvents(list []string) any {
	if list == nil {
		return nil
	}
	return strings.Join(list, ",")
}

func splitEvents(v sql.NullString) []string {
	if !v.Valid {
		return nil
	}
	if v.String == "" {
		return []string{}
	}
	return strings.Split(v.String, ",")
}

func nullInt(v int) any {
	if v == 0 {
		return nil
	}
	return v
}
