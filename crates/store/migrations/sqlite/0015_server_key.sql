-- The fingerprint of the server key this database belongs to (an HMAC under the key, which
-- reveals nothing of it): sealed TOTP seeds and queued mail, known-device tokens and the audit
-- chain only make sense with that key, so an instance started with another one refuses to
-- start instead of writing what no other instance can read.
CREATE TABLE server_key (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    fingerprint TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
);
