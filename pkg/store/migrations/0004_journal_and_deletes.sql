ALTER TABLE chats ADD COLUMN deleted_at DATETIME(6) NULL AFTER messages_count;
ALTER TABLE messages ADD COLUMN deleted_at DATETIME(6) NULL AFTER body;
CREATE TABLE event_journal (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  event_id CHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  type VARCHAR(32) CHARACTER SET ascii NOT NULL,
  application_id BIGINT UNSIGNED NOT NULL,
  chat_number BIGINT NOT NULL,
  message_number BIGINT NOT NULL,
  body MEDIUMTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  event_time DATETIME(6) NOT NULL,
  read_at DATETIME(6) NOT NULL,
  written_at DATETIME(6) NULL,
  committed_at DATETIME(6) NOT NULL,
  attempt INT NOT NULL,
  outcome VARCHAR(16) CHARACTER SET ascii NOT NULL,
  detail VARCHAR(255) NULL,
  trace_id VARCHAR(64) CHARACTER SET ascii NULL,
  PRIMARY KEY (id),
  KEY idx_journal_key (application_id, chat_number, message_number, event_time),
  KEY idx_journal_event (event_id),
  KEY idx_journal_committed (committed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
