-- A security key's signature counter, outside its sealed state so that the write storing a
-- new counter can refuse one that is not higher (two assertions verified at once).
ALTER TABLE mfa_devices ADD COLUMN sign_count BIGINT NOT NULL DEFAULT 0;
