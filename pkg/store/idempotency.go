package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/instachat/instachat/pkg/chat"
)

// Idempotency names the record an application write made with an
// Idempotency-Key keeps, in the transaction of the write itself, so that a
// retry gets the first answer back: the key's digest (chat.KeyHash), the
// request's fingerprint (chat.Fingerprint) and when the record stops
// answering. MySQL never sees the key.
type Idempotency struct {
	KeyHash, Fingerprint string
	Expires              time.Time
}

// Once is the answer of an application write made with an Idempotency-Key.
type Once struct {
	Ref AppRef
	// Replayed reports that the record answered: the write had been done
	// under this key before, and Ref is the first answer. A replayed
	// creation carries no token in Ref: Sealed holds it, as the first
	// request sealed it.
	Replayed bool
	Sealed   []byte
}

// idempotencyRow is one record (table idempotency_keys, migration 0009).
type idempotencyRow struct {
	Scope         int64 // 0: application creation; else the renamed application's id
	KeyHash       []byte
	Fingerprint   []byte
	ApplicationID int64
	SealedToken   []byte
	Name          string
	ChatsCount    int64
	AppCreatedAt  time.Time
	AppUpdatedAt  time.Time
	ExpiresAt     time.Time
}

func (idempotencyRow) TableName() string { return "idempotency_keys" }

// record returns the row that answers like ref under scope.
func (rec Idempotency) record(scope int64, ref AppRef, sealed []byte) (idempotencyRow, error) {
	kh, err1 := hex.DecodeString(rec.KeyHash)
	fp, err2 := hex.DecodeString(rec.Fingerprint)
	if err := errors.Join(err1, err2); err != nil || len(kh) != 16 || len(fp) != 16 {
		return idempotencyRow{}, fmt.Errorf("idempotency record: key hash and fingerprint must be 32 hex digits: %w", chat.ErrInvalid)
	}
	a := ref.App
	return idempotencyRow{Scope: scope, KeyHash: kh, Fingerprint: fp, ApplicationID: ref.ID, SealedToken: sealed, Name: a.Name,
		ChatsCount: a.ChatsCount, AppCreatedAt: a.CreatedAt, AppUpdatedAt: a.UpdatedAt, ExpiresAt: rec.Expires}, nil
}

// CreateApplicationOnce creates an application as CreateApplication does,
// keeping in the same transaction the record of rec, with the token sealed
// by seal. If rec's key already answered a creation, nothing is created: the
// first answer comes back (Once.Replayed, with the sealed token), or
// chat.ErrKeyReused when that creation was another request. Two racing
// requests with one key create one application between them.
func (s *Store) CreateApplicationOnce(ctx context.Context, name string, now time.Time, rec Idempotency, seal func(token string) ([]byte, error)) (Once, error) {
	for range 3 {
		token, err := chat.NewToken()
		if err != nil {
			return Once{}, err
		}
		sealed, err := seal(token)
		if err != nil {
			return Once{}, fmt.Errorf("seal token: %w", err)
		}
		app := applicationRow{TokenSHA256: tokenSHA256(token), TokenDigest: chat.TokenDigest(token), Name: name, CreatedAt: now, UpdatedAt: now}
		err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := dropExpired(tx, 0, rec, now); err != nil {
				return err
			}
			if err := tx.Create(&app).Error; err != nil {
				return err
			}
			row, err := rec.record(0, AppRef{ID: app.ID, App: app.domain(token)}, sealed)
			if err != nil {
				return err
			}
			return tx.Create(&row).Error
		})
		switch {
		case duplicateOf(err, "PRIMARY"):
			return s.replay(ctx, 0, rec, "")
		case duplicateOf(err, "idx_applications_token_sha256"):
			continue // a token collision: 192 random bits make this theoretical
		case err != nil:
			return Once{}, wrap("create application", err)
		}
		return Once{Ref: AppRef{ID: app.ID, App: app.domain(token)}}, nil
	}
	return Once{}, fmt.Errorf("create application: token collisions: %w", chat.ErrConflict)
}

// RenameApplicationOnce renames an application as RenameApplication does,
// keeping in the same transaction the record of rec (scoped to the
// application). If rec's key already answered a rename of it, nothing
// changes: the first answer comes back (Once.Replayed), or chat.ErrKeyReused
// when that rename was another request.
func (s *Store) RenameApplicationOnce(ctx context.Context, token, name string, now time.Time, rec Idempotency) (Once, error) {
	for range maxLockRetries {
		var out AppRef
		raced := false
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var app applicationRow
			if err := tx.Where("token_sha256 = ?", tokenSHA256(token)).Take(&app).Error; err != nil {
				return err
			}
			if err := dropExpired(tx, app.ID, rec, now); err != nil {
				return err
			}
			if app.Name != name {
				res := tx.Model(&applicationRow{}).Where("id = ? AND lock_version = ?", app.ID, app.LockVersion).
					Updates(map[string]any{"name": name, "updated_at": now, "lock_version": gorm.Expr("lock_version + 1")})
				if res.Error != nil {
					return res.Error
				}
				if res.RowsAffected != 1 {
					raced = true
					return errRaced
				}
				app.Name, app.UpdatedAt = name, now
			}
			out = AppRef{ID: app.ID, App: app.domain(token)}
			row, err := rec.record(app.ID, out, nil)
			if err != nil {
				return err
			}
			return tx.Create(&row).Error
		})
		switch {
		case raced:
			continue // a concurrent change bumped lock_version: read again
		case duplicateOf(err, "PRIMARY"):
			ref, rerr := s.Application(ctx, token)
			if rerr != nil {
				return Once{}, rerr
			}
			return s.replay(ctx, ref.ID, rec, token)
		case err != nil:
			return Once{}, wrap("rename application", err)
		}
		return Once{Ref: out}, nil
	}
	return Once{}, fmt.Errorf("rename application: %w", chat.ErrConflict)
}

var errRaced = errors.New("raced")

// dropExpired deletes rec's record in scope once it stopped answering, so
// the key can be used again.
func dropExpired(tx *gorm.DB, scope int64, rec Idempotency, now time.Time) error {
	kh, err := hex.DecodeString(rec.KeyHash)
	if err != nil {
		return fmt.Errorf("idempotency key hash: %w", chat.ErrInvalid)
	}
	return tx.Where("scope = ? AND key_hash = ? AND expires_at <= ?", scope, kh, now).Delete(&idempotencyRow{}).Error
}

// replay answers from rec's record in scope: the first answer, with token
// (empty for a creation, whose token is sealed in the record), or
// chat.ErrKeyReused for a record of another request.
func (s *Store) replay(ctx context.Context, scope int64, rec Idempotency, token string) (Once, error) {
	kh, err := hex.DecodeString(rec.KeyHash)
	if err != nil {
		return Once{}, fmt.Errorf("idempotency key hash: %w", chat.ErrInvalid)
	}
	var row idempotencyRow
	if err := s.db.WithContext(ctx).Where("scope = ? AND key_hash = ?", scope, kh).Take(&row).Error; err != nil {
		return Once{}, wrap("read idempotency record", err)
	}
	if fp, _ := hex.DecodeString(rec.Fingerprint); !bytes.Equal(fp, row.Fingerprint) {
		return Once{}, chat.KeyReused()
	}
	app := chat.Application{Token: token, Name: row.Name, ChatsCount: row.ChatsCount, CreatedAt: row.AppCreatedAt, UpdatedAt: row.AppUpdatedAt}
	return Once{Ref: AppRef{ID: row.ApplicationID, App: app}, Replayed: true, Sealed: row.SealedToken}, nil
}

// duplicateOf reports whether err is MySQL's duplicate-entry error for the
// named key.
func duplicateOf(err error, key string) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1062 && strings.Contains(me.Message, "'"+key+"'") ||
		errors.As(err, &me) && me.Number == 1062 && strings.Contains(me.Message, "."+key+"'")
}

// PurgeIdempotencyKeys deletes the records that stopped answering before
// now, in chunks, and returns how many it deleted.
func (s *Store) PurgeIdempotencyKeys(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for {
		res := s.db.WithContext(ctx).Exec("DELETE FROM idempotency_keys WHERE expires_at < ? ORDER BY expires_at LIMIT 5000", now)
		if res.Error != nil {
			return total, wrap("purge idempotency keys", res.Error)
		}
		total += res.RowsAffected
		if res.RowsAffected < 5000 {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, fmt.Errorf("purge idempotency keys: %w", err)
		}
	}
}
