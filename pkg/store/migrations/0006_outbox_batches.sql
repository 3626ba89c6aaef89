ALTER TABLE search_outbox
  ADD COLUMN batch_id BIGINT UNSIGNED NOT NULL DEFAULT 0,
  ADD KEY idx_search_outbox_batch (batch_id),
  ADD KEY idx_search_outbox_created (created_at, id);
