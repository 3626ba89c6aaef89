-- Where each journaled event sits in its partition's live-event stream
-- (issue 13): partition, generation, sequence. NULL for events accepted
-- before the streams existed. The index serves the api's replay of a range
-- of positions and its watermark of what is journaled.
ALTER TABLE event_journal ADD COLUMN stream_part SMALLINT UNSIGNED NULL, ADD COLUMN stream_gen BIGINT UNSIGNED NULL,
  ADD COLUMN stream_seq BIGINT UNSIGNED NULL, ADD KEY idx_journal_stream (stream_part, stream_gen, stream_seq)
