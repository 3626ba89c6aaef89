ALTER TABLE applications ADD COLUMN token_digest CHAR(24) CHARACTER SET ascii COLLATE ascii_bin NULL AFTER token;
UPDATE applications SET token_digest = LEFT(SHA2(token, 256), 24) WHERE token_digest IS NULL;
ALTER TABLE applications MODIFY token_digest CHAR(24) CHARACTER SET ascii COLLATE ascii_bin NOT NULL;
ALTER TABLE applications ADD UNIQUE KEY idx_applications_token_digest (token_digest);
