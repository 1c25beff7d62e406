-- MFA devices (kept after removal, as the permanent record of every authenticator bound),
-- pending enrolments, and sign-in attempts waiting for their MFA code.

CREATE TABLE mfa_devices (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    name            TEXT NOT NULL,
    secret_sealed   BLOB,
    algorithm       TEXT NOT NULL,
    digits          INTEGER NOT NULL,
    period          INTEGER NOT NULL,
    drift_steps     INTEGER NOT NULL DEFAULT 0,
    last_used_step  INTEGER,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER,
    removed_at      INTEGER
);
CREATE INDEX mfa_devices_by_account ON mfa_devices (account_id) WHERE removed_at IS NULL;
CREATE UNIQUE INDEX mfa_devices_unique_active_name ON mfa_devices (account_id, name) WHERE removed_at IS NULL;

CREATE TABLE mfa_enrollments (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    secret_sealed BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    completed_at  INTEGER
);

CREATE TABLE sign_in_attempts (
    token_hash   TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    completed_at INTEGER,
    -- The account's failure count when the password was accepted: only failures after it
    -- throttle the code step.
    failures_at_start INTEGER NOT NULL DEFAULT 0
);

ALTER TABLE sessions ADD COLUMN mfa_device_id TEXT;
ALTER TABLE accounts ADD COLUMN mfa_changed_at INTEGER;
