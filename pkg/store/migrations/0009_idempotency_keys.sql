-- The record of each application create or rename made with an
-- Idempotency-Key (chat and message writes keep theirs in Redis, in the step
-- that queues them), written in the same transaction as the write, so a
-- retry gets the first answer back. scope is 0 for application creation (the
-- key alone names it) and the application's id for a rename. MySQL never sees
-- the key (key_hash is chat.KeyHash) nor a token: a created application's
-- token is kept sealed with a key derived from the Idempotency-Key.
CREATE TABLE idempotency_keys (
  scope BIGINT UNSIGNED NOT NULL,
  key_hash BINARY(16) NOT NULL,
  fingerprint BINARY(16) NOT NULL,
  application_id BIGINT UNSIGNED NOT NULL,
  sealed_token VARBINARY(128) NULL,
  name VARCHAR(255) NOT NULL,
  chats_count BIGINT NOT NULL,
  app_created_at DATETIME(6) NOT NULL,
  app_updated_at DATETIME(6) NOT NULL,
  expires_at DATETIME(6) NOT NULL,
  PRIMARY KEY (scope, key_hash),
  KEY idx_idempotency_keys_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
