-- MFA devices (kept after removal, as the permanent record of every authenticator bound),
-- pending enrolments, and sign-in attempts waiting for their MFA code.

CREATE TABLE mfa_devices (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    name            TEXT NOT NULL,
    secret_sealed   BYTEA,
    algorithm       TEXT NOT NULL,
    digits          BIGINT NOT NULL,
    period          BIGINT NOT NULL,
    drift_steps     BIGINT NOT NULL DEFAULT 0,
    last_used_step  BIGINT,
    failed_attempts BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    last_used_at    BIGINT,
    removed_at      BIGINT
);
CREATE INDEX mfa_devices_by_account ON mfa_devices (account_id) WHERE removed_at IS NULL;
CREATE UNIQUE INDEX mfa_devices_unique_active_name ON mfa_devices (account_id, name) WHERE removed_at IS NULL;

CREATE TABLE mfa_enrollments (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    secret_sealed BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    completed_at  BIGINT
);

CREATE TABLE sign_in_attempts (
    token_hash   TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    completed_at BIGINT,
    -- The account's failure count when the password was accepted: only failures after it
    -- throttle the code step.
    failures_at_start BIGINT NOT NULL DEFAULT 0
);

ALTER TABLE sessions ADD COLUMN mfa_device_id TEXT;
ALTER TABLE accounts ADD COLUMN mfa_changed_at BIGINT;
