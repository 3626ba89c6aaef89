ALTER TABLE applications ADD COLUMN token_sha256 BINARY(32) NULL AFTER id;
UPDATE applications SET token_sha256 = UNHEX(SHA2(token, 256)) WHERE token_sha256 IS NULL;
ALTER TABLE applications
  MODIFY token_sha256 BINARY(32) NOT NULL,
  ADD UNIQUE KEY idx_applications_token_sha256 (token_sha256),
  DROP KEY idx_applications_token,
  DROP COLUMN token;
