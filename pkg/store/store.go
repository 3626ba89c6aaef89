// Package store is InstaChat's MySQL (MariaDB) store through GORM: versioned
// migrations, the api's reads and application writes, the writer's idempotent
// batch writes and the cron's count sync. It owns the *gorm.DB and returns
// domain types; internal ids stay inside the services.
package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/go-sql-driver/mysql"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/instachat/instachat/pkg/chat"
)

// Config says how to reach the database.
type Config struct {
	// DSN is a go-sql-driver DSN, e.g. "root:@tcp(127.0.0.1:3306)/instachat".
	// parseTime, UTC, utf8mb4 and client-side interpolation are always set.
	DSN string
	// MaxOpenConns bounds the connection pool (default 20).
	MaxOpenConns int
	// CreateDatabase creates the database named in the DSN if it is missing.
	CreateDatabase bool
	// RowLocks makes the writer lock a row by id (SELECT … FOR UPDATE) before
	// deciding an update or delete, instead of the default optimistic
	// lock_version check and retry. It helps when many writers hit the same
	// hot rows (retries would spin); it costs lock waits otherwise.
	RowLocks bool
	// IOTimeout bounds every read from and write to the server on a
	// connection (the driver's readTimeout and writeTimeout; default 30 s
	// unless the DSN sets them), so no statement of any service hangs on a
	// server that stopped answering. Migrations run on their own connection
	// without it: an ALTER of a large table may take longer.
	IOTimeout time.Duration
}

// Store is the MySQL store.
type Store struct {
	db       *gorm.DB
	rowLocks bool
}

// Open connects, optionally creates the database, and applies migrations.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	mc, err := mysql.ParseDSN(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("parse mysql dsn: %w", err)
	}
	mc.ParseTime = true
	mc.Loc = time.UTC
	mc.InterpolateParams = true
	if mc.Params == nil {
		mc.Params = map[string]string{}
	}
	mc.Params["charset"] = "utf8mb4"
	mc.Collation = "utf8mb4_unicode_ci"
	if mc.Timeout == 0 {
		mc.Timeout = 5 * time.Second
	}
	if cfg.CreateDatabase && mc.DBName != "" {
		if err := createDatabase(ctx, *mc); err != nil {
			return nil, err
		}
	}
	// Migrations first, on a connection without I/O deadlines.
	if err := migrateOn(ctx, *mc); err != nil {
		return nil, err
	}
	if cfg.IOTimeout <= 0 {
		cfg.IOTimeout = 30 * time.Second
	}
	if mc.ReadTimeout == 0 {
		mc.ReadTimeout = cfg.IOTimeout
	}
	if mc.WriteTimeout == 0 {
		mc.WriteTimeout = cfg.IOTimeout
	}
	db, err := gorm.Open(gormmysql.New(gormmysql.Config{DSN: mc.FormatDSN()}), &gorm.Config{
		Logger:                 logger.Default.LogMode(logger.Silent),
		SkipDefaultTransaction: true,
	})
	if err != nil {
		return nil, fmt.Errorf("open mysql: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open mysql: %w", err)
	}
	if cfg.MaxOpenConns <= 0 {
		cfg.MaxOpenConns = 20
	}
	sqlDB.SetMaxOpenConns(cfg.MaxOpenConns)
	sqlDB.SetMaxIdleConns(cfg.MaxOpenConns)
	sqlDB.SetConnMaxLifetime(30 * time.Minute)
	return &Store{db: db, rowLocks: cfg.RowLocks}, nil
}

// migrateOn applies the migrations through a short-lived pool of its own.
func migrateOn(ctx context.Context, mc mysql.Config) error {
	db, err := gorm.Open(gormmysql.New(gormmysql.Config{DSN: mc.FormatDSN()}), &gorm.Config{
		Logger: logger.Default.LogMode(logger.Silent), SkipDefaultTransaction: true,
	})
	if err != nil {
		return fmt.Errorf("open mysql to migrate: %w", err)
	}
	s := &Store{db: db}
	defer s.Close()
	return s.migrate(ctx)
}

func createDatabase(ctx context.Context, mc mysql.Config) error {
	name := mc.DBName
	mc.DBName = ""
	db, err := gorm.Open(gormmysql.New(gormmysql.Config{DSN: mc.FormatDSN()}), &gorm.Config{Logger: logger.Default.LogMode(logger.Silent)})
	if err != nil {
		return fmt.Errorf("connect to create database: %w", err)
	}
	sqlDB, _ := db.DB()
	defer sqlDB.Close()
	q := fmt.Sprintf("CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci", name)
	if err := db.WithContext(ctx).Exec(q).Error; err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// Close closes the connection pool.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("ping mysql: %w: %w", chat.ErrUnavailable, err)
	}
	return nil
}

// wrap maps driver errors: an unreachable database becomes chat.ErrUnavailable
// so the api answers 503 and the writer waits instead of burning retries.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return fmt.Errorf("%s: %w", op, chat.ErrNotFound)
	}
	if Transient(err) {
		return fmt.Errorf("%s: %w: %w", op, chat.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Transient reports whether err is worth retrying as is: a lost connection,
// a deadlock or a lock wait timeout.
func Transient(err error) bool {
	if errors.Is(err, chat.ErrUnavailable) {
		return true
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1205, 1213, 1040, 1053, 2006, 2013, 1927:
			return true
		}
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, context.DeadlineExceeded)
}
