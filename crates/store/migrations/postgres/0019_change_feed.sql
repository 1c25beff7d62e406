-- What each commit changed, for every instance that keeps accounts' sessions in memory: a
-- notification on channel latchkey_changes naming the account, delivered by PostgreSQL when
-- (and only if) the transaction commits, in commit order. Sent by triggers, so no statement
-- that changes an account can forget it: every change to an account writes its audit
-- record, and a session's or an OpenID Connect token's revocation is also caught where it
-- is written. Instances also send themselves pings on the channel, to know how far they
-- have caught up.
CREATE FUNCTION latchkey_account_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('latchkey_changes', OLD.account_id);
    ELSE
        PERFORM pg_notify('latchkey_changes', NEW.account_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER account_changes_on_audit AFTER INSERT ON audit_log
FOR EACH ROW WHEN (NEW.account_id IS NOT NULL)
EXECUTE FUNCTION latchkey_account_changed();

CREATE TRIGGER account_changes_on_session_revoked AFTER UPDATE OF revoked_at ON sessions
FOR EACH ROW WHEN (NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL)
EXECUTE FUNCTION latchkey_account_changed();

CREATE TRIGGER account_changes_on_token_revoked AFTER UPDATE OF revoked_at ON oidc_tokens
FOR EACH ROW WHEN (NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL)
EXECUTE FUNCTION latchkey_account_changed();

CREATE TRIGGER account_changes_on_token_deleted AFTER DELETE ON oidc_tokens
FOR EACH ROW EXECUTE FUNCTION latchkey_account_changed();
