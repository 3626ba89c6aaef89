ALTER TABLE chats ADD KEY idx_chats_application_live (application_id, deleted_at, number);
