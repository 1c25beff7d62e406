-- The OpenID Connect provider: the applications operators register, the owners' consents,
-- single-use authorization codes, the tokens issued from them and the keys ID tokens are
-- signed with. Every token lives only as long as the latchkey session it came from.

CREATE TABLE oidc_clients (
    id                        TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    -- SHA-256 of a 256-bit random secret (hex); NULL for a public client.
    secret_hash               TEXT,
    -- One URI per line, matched exactly.
    redirect_uris             TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    id_token_alg              TEXT NOT NULL,
    first_party               INTEGER NOT NULL,
    refresh_tokens            INTEGER NOT NULL,
    allow_recovery            INTEGER NOT NULL,
    created_at                INTEGER NOT NULL,
    removed_at                INTEGER
);

CREATE TABLE oidc_consents (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
    -- The scopes allowed; a request for more asks again.
    scope      TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, client_id)
);

CREATE TABLE oidc_codes (
    code_hash      TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
    account_id     TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    session_hash   TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    nonce          TEXT,
    code_challenge TEXT,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER
);

CREATE TABLE oidc_tokens (
    token_hash   TEXT PRIMARY KEY,
    -- 'access' or 'refresh'.
    kind         TEXT NOT NULL,
    client_id    TEXT NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    session_hash TEXT NOT NULL,
    -- The code the family began with: a replay of it revokes the family.
    family       TEXT NOT NULL,
    scope        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    -- A refresh token is used once (rotation); a second use revokes the family.
    used_at      INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX oidc_tokens_by_family ON oidc_tokens (family);

CREATE TABLE oidc_signing_keys (
    kid            TEXT PRIMARY KEY,
    alg            TEXT NOT NULL,
    -- PKCS#8, sealed under the server key and bound to the kid.
    private_sealed BLOB NOT NULL,
    -- The public JWK, as published.
    public_jwk     TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    -- Published from creation; signs from here on (an overlap lets relying parties fetch it
    -- before any token needs it).
    active_from    INTEGER NOT NULL,
    retired_at     INTEGER
);
