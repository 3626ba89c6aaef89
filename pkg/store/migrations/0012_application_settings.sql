-- Each application's settings (issue 14, ADR 0016): the customizations that
-- change how its writes are processed, and its webhook endpoints. version
-- counts the document's writes; every change bumps it in the transaction
-- that makes it (optimistic concurrency: a write names the version it read).
-- A signing secret is kept sealed with WEBHOOK_KEY (settings.Sealer), bound
-- to its endpoint's public id; the previous one signs beside it until
-- previous_until after a rotation.
CREATE TABLE application_settings (
  application_id BIGINT UNSIGNED NOT NULL,
  version BIGINT UNSIGNED NOT NULL,
  max_body_bytes INT UNSIGNED NULL,
  write_rate_limit VARCHAR(64) CHARACTER SET ascii NULL,
  events VARCHAR(255) CHARACTER SET ascii NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (application_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE webhook_endpoints (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  application_id BIGINT UNSIGNED NOT NULL,
  public_id CHAR(29) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  position SMALLINT UNSIGNED NOT NULL,
  url VARCHAR(2048) NOT NULL,
  events VARCHAR(255) CHARACTER SET ascii NULL,
  active BOOLEAN NOT NULL,
  paused_reason VARCHAR(255) NULL,
  paused_at DATETIME(6) NULL,
  secret_sealed VARBINARY(128) NOT NULL,
  previous_secret_sealed VARBINARY(128) NULL,
  previous_until DATETIME(6) NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY idx_webhook_endpoints_public_id (public_id),
  KEY idx_webhook_endpoints_application (application_id, position)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
