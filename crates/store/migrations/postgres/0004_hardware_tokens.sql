-- The inventory of imported hardware OATH tokens, and which device each is bound to.

CREATE TABLE hardware_tokens (
    serial        TEXT PRIMARY KEY,
    manufacturer  TEXT,
    algorithm     TEXT NOT NULL,
    digits        BIGINT NOT NULL,
    period        BIGINT NOT NULL,
    secret_sealed BYTEA NOT NULL,
    imported_at   BIGINT NOT NULL,
    device_id     TEXT UNIQUE
);

ALTER TABLE mfa_devices ADD COLUMN serial TEXT;
