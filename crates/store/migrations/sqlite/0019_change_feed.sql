-- What each commit changed, for the processes that keep accounts' sessions in memory: a
-- running server reads the rows after the last one it saw several times a second and drops
-- what it keeps about those accounts, so a change made by another process on this file (an
-- operator's `latchkey account disable`, a password reset) reaches it within a second.
-- SQLite has one writer at a time, so rows are numbered in the order they committed.
-- Written by triggers, so no statement that changes an account can forget it: every change
-- to an account writes its audit record, and a session's or an access token's revocation is
-- also caught where it is written.
CREATE TABLE account_changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL
);

CREATE TRIGGER account_changes_on_audit AFTER INSERT ON audit_log
WHEN NEW.account_id IS NOT NULL
BEGIN
    INSERT INTO account_changes (account_id) VALUES (NEW.account_id);
END;

CREATE TRIGGER account_changes_on_session_revoked AFTER UPDATE OF revoked_at ON sessions
WHEN NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL
BEGIN
    INSERT INTO account_changes (account_id) VALUES (NEW.account_id);
END;

CREATE TRIGGER account_changes_on_token_revoked AFTER UPDATE OF revoked_at ON oidc_tokens
WHEN NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL
BEGIN
    INSERT INTO account_changes (account_id) VALUES (NEW.account_id);
END;

CREATE TRIGGER account_changes_on_token_deleted AFTER DELETE ON oidc_tokens
BEGIN
    INSERT INTO account_changes (account_id) VALUES (OLD.account_id);
END;
