-- Security keys (WebAuthn): the credential id of each key, and server-side ceremony state.

ALTER TABLE mfa_devices ADD COLUMN credential_id TEXT;
CREATE UNIQUE INDEX mfa_devices_unique_credential ON mfa_devices (credential_id) WHERE credential_id IS NOT NULL AND removed_at IS NULL;

CREATE TABLE webauthn_ceremonies (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    purpose      TEXT NOT NULL,
    state_sealed BYTEA NOT NULL,
    name         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT
);
