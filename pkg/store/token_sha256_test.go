package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/testenv"
)

// This file checks issue 10's finding 12: application tokens are kept in
// MySQL only as their SHA-256 (migration 0008), so neither a dump nor the
// text of a statement (process list, slow and general logs) holds one.

var tokenT0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// wireCapture is a TCP proxy in front of MySQL that records every byte the
// client sends. With InterpolateParams each statement travels as one text
// query, so this is exactly what the server's process list, slow log and
// general log can show.
type wireCapture struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	sent     bytes.Buffer
	wg       sync.WaitGroup
}

func newWireCapture(t *testing.T, upstream string) *wireCapture {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &wireCapture{ln: ln, upstream: upstream}
	w.wg.Go(w.accept)
	t.Cleanup(func() { ln.Close(); w.wg.Wait() })
	return w
}

func (w *wireCapture) accept() {
	for {
		c, err := w.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", w.upstream)
		if err != nil {
			c.Close()
			continue
		}
		w.wg.Go(func() {
			_, _ = io.Copy(up, io.TeeReader(c, w))
			up.Close()
		})
		w.wg.Go(func() {
			_, _ = io.Copy(c, up)
			c.Close()
		})
	}
}

// Write records client bytes (the TeeReader's side).
func (w *wireCapture) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sent.Write(p)
}

func (w *wireCapture) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Clone(w.sent.Bytes())
}

// TestTokenNeverReachesMySQL runs every application path of the store through
// the capture and fails if a token, or any 8-character piece of one, was
// sent: the statements carry the token's SHA-256, never the token.
func TestTokenNeverReachesMySQL(t *testing.T) {
	ctx := context.Background()
	mc, err := mysql.ParseDSN(testenv.MySQLDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	if mc.TLSConfig != "" && mc.TLSConfig != "false" {
		t.Skipf("MYSQL_TEST_DSN uses TLS (%s): the capture would see ciphertext", mc.TLSConfig)
	}
	wire := newWireCapture(t, mc.Addr)
	mc.Addr = wire.ln.Addr().String()
	s, err := Open(ctx, Config{DSN: mc.FormatDSN()})
	if err != nil {
		t.Fatalf("open store through the capture: %v", err)
	}
	defer s.Close()

	ref, err := s.CreateApplication(ctx, "wire", tokenT0)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	token := ref.App.Token
	unknown, _ := chat.NewToken()
	got, err := s.Application(ctx, token)
	if err != nil || got.ID != ref.ID || got.App.Token != token {
		t.Fatalf("read: got %+v, %v; want id %d and the token echoed", got, err, ref.ID)
	}
	renamed, err := s.RenameApplication(ctx, token, "wire renamed", tokenT0.Add(time.Second))
	if err != nil || renamed.App.Token != token || renamed.App.Name != "wire renamed" {
		t.Fatalf("rename: got %+v, %v; want the new name and the token echoed", renamed, err)
	}
	if _, err := s.RenameApplication(ctx, token, "wire renamed", tokenT0.Add(2*time.Second)); err != nil {
		t.Fatalf("rename to the same name: %v", err)
	}
	if _, err := s.Application(ctx, unknown); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("unknown token: got %v, want ErrNotFound", err)
	}
	if _, err := s.ApplicationIDs(ctx, []string{chat.TokenDigest(token)}); err != nil {
		t.Fatalf("ids: %v", err)
	}

	sent := wire.bytes()
	if !bytes.Contains(sent, []byte("token_sha256 = ")) || !bytes.Contains(sent, []byte("INSERT INTO `applications`")) {
		t.Fatalf("the capture saw %d bytes without the application statements: it does not see the queries", len(sent))
	}
	for _, tk := range []string{token, unknown} {
		for i := 0; i+8 <= len(tk); i++ {
			if piece := tk[i : i+8]; bytes.Contains(sent, []byte(piece)) {
				t.Fatalf("token piece %q (offset %d) was sent to MySQL", piece, i)
			}
		}
	}
}

// TestDumpHoldsNoToken reads the applications table whole, as a dump would,
// and finds neither a token nor a column that could hold one.
func TestDumpHoldsNoToken(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.MySQLDSN(t)
	s, err := Open(ctx, Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var tokens []string
	for i := range 3 {
		ref, err := s.CreateApplication(ctx, "dump", tokenT0.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, ref.App.Token)
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var cols []string
	rows, err := db.QueryContext(ctx, "SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'applications' ORDER BY ordinal_position")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	rows.Close()
	if strings.Contains(","+strings.Join(cols, ",")+",", ",token,") {
		t.Errorf("applications columns %v: the plain token column is still there", cols)
	}
	var dump bytes.Buffer
	rows, err = db.QueryContext(ctx, "SELECT * FROM applications")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			dump.Write(v)
			dump.WriteByte(0)
		}
		n++
	}
	rows.Close()
	if n != len(tokens) {
		t.Fatalf("dump: got %d rows, want %d", n, len(tokens))
	}
	for _, tk := range tokens {
		if bytes.Contains(dump.Bytes(), []byte(tk)) {
			t.Errorf("the dump holds token %.4s…", tk)
		}
		sum := sha256.Sum256([]byte(tk))
		if !bytes.Contains(dump.Bytes(), sum[:]) {
			t.Errorf("the dump lacks the SHA-256 of token %.4s…", tk)
		}
	}
}

// TestMigrationHashesStoredTokens brings a database to the schema before
// migration 0008, stores applications with plain tokens as the old code did,
// and checks that opening the store replaces each token by its SHA-256: the
// same tokens still find their applications, and the token column is gone.
func TestMigrationHashesStoredTokens(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.MySQLDSN(t)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	migs, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE schema_migrations (version INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, applied_at DATETIME(6) NOT NULL) ENGINE=InnoDB"); err != nil {
		t.Fatal(err)
	}
	for _, m := range migs {
		if m.version >= 8 {
			continue
		}
		for _, stmt := range m.stmts {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				t.Fatalf("apply %s: %v", m.name, err)
			}
		}
		if _, err := db.ExecContext(ctx, "INSERT INTO schema_migrations VALUES (?, ?, UTC_TIMESTAMP(6))", m.version, m.name); err != nil {
			t.Fatal(err)
		}
	}
	legacy := map[int64]string{}
	for i, tk := range []string{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "abc-def_ghi-jkl_mno-pqr_stu-vwx_", ""} {
		if tk == "" {
			tk, _ = chat.NewToken()
		}
		res, err := db.ExecContext(ctx, "INSERT INTO applications (token, token_digest, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
			tk, chat.TokenDigest(tk), "legacy", tokenT0, tokenT0)
		if err != nil {
			t.Fatalf("insert legacy application %d: %v", i, err)
		}
		id, _ := res.LastInsertId()
		legacy[id] = tk
	}

	s, err := Open(ctx, Config{DSN: dsn})
	if err != nil {
		t.Fatalf("open (applies 0008): %v", err)
	}
	defer s.Close()
	for id, tk := range legacy {
		ref, err := s.Application(ctx, tk)
		if err != nil || ref.ID != id || ref.App.Token != tk || ref.App.Name != "legacy" {
			t.Errorf("token of application %d after the migration: got %+v, %v; want it found with the token echoed", id, ref, err)
		}
		var stored []byte
		var digest string
		if err := db.QueryRowContext(ctx, "SELECT token_sha256, token_digest FROM applications WHERE id = ?", id).Scan(&stored, &digest); err != nil {
			t.Fatal(err)
		}
		if want := tokenSHA256(tk); !bytes.Equal(stored, want) {
			t.Errorf("application %d: token_sha256 %x, want %x (Go's SHA-256 of the token)", id, stored, want)
		}
		if digest != chat.TokenDigest(tk) {
			t.Errorf("application %d: token_digest %q changed, want %q", id, digest, chat.TokenDigest(tk))
		}
	}
	var plain int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'applications' AND column_name = 'token'").Scan(&plain); err != nil || plain != 0 {
		t.Errorf("after 0008: %d plain token columns (%v), want 0", plain, err)
	}
	// A new application and a legacy one cannot share a digest: the unique key holds.
	var tk string
	for _, v := range legacy {
		tk = v
		break
	}
	_, err = db.ExecContext(ctx, "INSERT INTO applications (token_sha256, token_digest, name, created_at, updated_at) VALUES (?, 'x', 'dup', ?, ?)", tokenSHA256(tk), tokenT0, tokenT0)
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1062 {
		t.Errorf("duplicate token_sha256: got %v, want a duplicate-key error (the unique key)", err)
	}
}
