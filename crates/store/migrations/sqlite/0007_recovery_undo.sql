-- "This wasn't me" undoes a recovery (issue 10): the flow remembers who started it (shown on
-- the emailed link's page) and when it was reported; the account remembers since when its
-- devices are suspect and whether the owner has since reset the password by email.

ALTER TABLE recovery_flows ADD COLUMN reported_at INTEGER;
ALTER TABLE recovery_flows ADD COLUMN started_from TEXT NOT NULL DEFAULT '';
ALTER TABLE recovery_flows ADD COLUMN started_agent TEXT NOT NULL DEFAULT '';

-- Alternative factors stay blocked (recovery_blocked_at) until a password reset by email
-- (recovery_block_reset_at) and then a sign-in with a device created before
-- recovery_block_since. Blocks set before this migration lift as they did: with any device
-- that predates them.
ALTER TABLE accounts ADD COLUMN recovery_block_since INTEGER;
ALTER TABLE accounts ADD COLUMN recovery_block_reset_at INTEGER;
UPDATE accounts SET recovery_block_since = recovery_blocked_at,
    recovery_block_reset_at = recovery_blocked_at
    WHERE recovery_blocked_at IS NOT NULL;
