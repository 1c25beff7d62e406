-- Server keys a rotation replaced: the database never goes back to one of them, so an
-- instance started with a key file from before a rotation (the new key still staged, or
-- the lines out of order) is refused instead of undoing the rotation.
CREATE TABLE superseded_keys (
    fingerprint   TEXT PRIMARY KEY,
    superseded_at INTEGER NOT NULL
);
