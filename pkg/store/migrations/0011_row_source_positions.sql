-- Where the event that last wrote each chat and message row sits in its
-- partition's live-event stream: partition, generation, sequence (ADR 0015).
-- Newest-wins compares these when an event and a row both have one in the
-- same partition, and event times otherwise. NULL for rows last written by an
-- event without a position. Added at the end of the table: an instant ALTER
-- on MariaDB 10.3+ and MySQL 8.0.12+.
ALTER TABLE chats ADD COLUMN source_part SMALLINT UNSIGNED NULL, ADD COLUMN source_gen BIGINT UNSIGNED NULL,
  ADD COLUMN source_seq BIGINT UNSIGNED NULL;
ALTER TABLE messages ADD COLUMN source_part SMALLINT UNSIGNED NULL, ADD COLUMN source_gen BIGINT UNSIGNED NULL,
  ADD COLUMN source_seq BIGINT UNSIGNED NULL;
-- Rows written since migration 0010 take their last event's position from
-- the journal, which holds it for every delivery of the event; the join walks
-- the journal's positioned entries (idx_journal_stream) and the rows' unique
-- keys.
UPDATE event_journal j JOIN chats c ON c.application_id = j.application_id AND c.number = j.chat_number
SET c.source_part = j.stream_part, c.source_gen = j.stream_gen, c.source_seq = j.stream_seq
WHERE j.stream_part IS NOT NULL AND j.stream_gen IS NOT NULL AND j.message_number = 0 AND c.last_event_id = j.event_id;
UPDATE event_journal j JOIN chats c ON c.application_id = j.application_id AND c.number = j.chat_number
  JOIN messages m ON m.chat_id = c.id AND m.number = j.message_number
SET m.source_part = j.stream_part, m.source_gen = j.stream_gen, m.source_seq = j.stream_seq
WHERE j.stream_part IS NOT NULL AND j.stream_gen IS NOT NULL AND j.message_number <> 0 AND m.last_event_id = j.event_id
