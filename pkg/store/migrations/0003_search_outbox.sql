CREATE TABLE search_outbox (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  application_id BIGINT UNSIGNED NOT NULL,
  chat_number BIGINT NOT NULL,
  number BIGINT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE search_rebuild (
  index_name VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  position BIGINT UNSIGNED NOT NULL DEFAULT 0,
  total BIGINT NOT NULL DEFAULT 0,
  started_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  finished_at DATETIME(6) NULL,
  PRIMARY KEY (index_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
