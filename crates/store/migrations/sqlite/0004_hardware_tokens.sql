-- The inventory of imported hardware OATH tokens, and which device each is bound to.

CREATE TABLE hardware_tokens (
    serial        TEXT PRIMARY KEY,
    manufacturer  TEXT,
    algorithm     TEXT NOT NULL,
    digits        INTEGER NOT NULL,
    period        INTEGER NOT NULL,
    secret_sealed BLOB NOT NULL,
    imported_at   INTEGER NOT NULL,
    device_id     TEXT UNIQUE
);

ALTER TABLE mfa_devices ADD COLUMN serial TEXT;
