-- Sign in using alternative factors: recovery flows and the verification calls they place.

CREATE TABLE recovery_flows (
    id                     TEXT PRIMARY KEY,
    token_hash             TEXT NOT NULL UNIQUE,
    account_id             TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    state                  TEXT NOT NULL,
    created_at             INTEGER NOT NULL,
    expires_at             INTEGER NOT NULL,
    cancel_token_hash      TEXT NOT NULL UNIQUE,
    email_token_hash       TEXT UNIQUE,
    email_token_expires_at INTEGER,
    emails_sent            INTEGER NOT NULL DEFAULT 0,
    email_verified_at      INTEGER,
    calls_placed           INTEGER NOT NULL DEFAULT 0,
    phone_verified_at      INTEGER,
    completed_at           INTEGER,
    cancelled_at           INTEGER
);
CREATE INDEX recovery_flows_by_account ON recovery_flows (account_id);

CREATE TABLE calls (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    purpose          TEXT NOT NULL,
    flow_id          TEXT,
    to_number        TEXT NOT NULL,
    code_hash        TEXT NOT NULL,
    code_expires_at  INTEGER NOT NULL,
    provider_call_id TEXT UNIQUE,
    status           TEXT NOT NULL,
    digit_attempts   INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    placed_at        INTEGER,
    verified_at      INTEGER,
    ended_at         INTEGER
);
CREATE INDEX calls_by_account ON calls (account_id, created_at);
CREATE INDEX calls_by_time ON calls (created_at);

ALTER TABLE accounts ADD COLUMN recovery_blocked_at INTEGER;
