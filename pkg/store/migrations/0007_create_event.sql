ALTER TABLE chats ADD COLUMN create_event_id CHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '' AFTER lock_version;
ALTER TABLE messages ADD COLUMN create_event_id CHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '' AFTER lock_version;
UPDATE chats c SET c.create_event_id = COALESCE(
  (SELECT MIN(j.event_id) FROM event_journal j
   WHERE j.application_id = c.application_id AND j.chat_number = c.number AND j.message_number = 0
     AND j.type = 'chat.create' AND j.outcome IN ('applied', 'duplicate')),
  IF(c.deleted_at IS NULL AND c.lock_version = 0, c.last_event_id, ''));
UPDATE messages m JOIN chats c ON c.id = m.chat_id SET m.create_event_id = COALESCE(
  (SELECT j.event_id FROM event_journal j
   WHERE j.application_id = c.application_id AND j.chat_number = c.number AND j.message_number = m.number
     AND j.type = 'message.create' AND j.outcome = 'applied'
   ORDER BY j.event_time DESC, j.event_id DESC LIMIT 1),
  IF(m.lock_version = 0, m.last_event_id, ''))
