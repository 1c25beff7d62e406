-- Changes of a recovery contact (the email address or the phone number): requested by a
-- session signed in with MFA, proven (a link to the new address, a call to the new number),
-- then applied; the old contact's `This wasn't me` link puts the old value back. When each
-- contact last changed decides whether alternative factors may use it yet (cooling-off).
ALTER TABLE accounts ADD COLUMN email_changed_at BIGINT;
ALTER TABLE accounts ADD COLUMN phone_changed_at BIGINT;

CREATE TABLE contact_changes (
    id                TEXT PRIMARY KEY,
    account_id        TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind              TEXT NOT NULL CHECK (kind IN ('email', 'phone')),
    new_value         TEXT NOT NULL,
    -- The hash of the link token sent to a new email address.
    proof_hash        TEXT UNIQUE,
    requested_from    TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    -- A new phone number's verification call got the right digits.
    verified_at       BIGINT,
    applied_at        BIGINT,
    -- The order changes of the account applied in (times are whole seconds): what an undo
    -- counts as "this change and the ones after it".
    applied_order     BIGINT,
    cancelled_at      BIGINT,
    -- What the change replaced, for `This wasn't me`.
    old_value         TEXT,
    old_changed_at    BIGINT,
    revert_hash       TEXT UNIQUE,
    revert_expires_at BIGINT,
    reverted_at       BIGINT
);
-- At most one change of each contact waits at a time: a new request replaces the old.
CREATE UNIQUE INDEX contact_changes_one_pending ON contact_changes (account_id, kind)
    WHERE applied_at IS NULL AND cancelled_at IS NULL;
