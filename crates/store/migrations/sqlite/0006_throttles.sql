-- Failures are counted per account and per source (a known device has a counter of its own,
-- every other client shares the account's '*' counter), and attempts are reserved before they
-- are checked. Email addresses without an account are throttled under a keyed hash of the
-- address, so they cost and behave exactly as accounts do.

CREATE TABLE throttles (
    subject         TEXT NOT NULL,
    source          TEXT NOT NULL,
    failures        INTEGER NOT NULL DEFAULT 0,
    last_failure_at INTEGER,
    PRIMARY KEY (subject, source)
);
INSERT INTO throttles (subject, source, failures, last_failure_at)
    SELECT id, '*', failed_sign_ins, last_failed_sign_in_at FROM accounts WHERE failed_sign_ins > 0;
ALTER TABLE accounts DROP COLUMN failed_sign_ins;
ALTER TABLE accounts DROP COLUMN last_failed_sign_in_at;

-- The source a sign-in attempt's password was checked under; its code step counts there too
-- (failures_at_start is now that counter's value once the right password was refunded).
ALTER TABLE sign_in_attempts ADD COLUMN source TEXT NOT NULL DEFAULT '*';

-- One recovery flow per sign-in attempt, and the attempt's source for the flow's failures.
ALTER TABLE recovery_flows ADD COLUMN attempt_hash TEXT;
CREATE UNIQUE INDEX recovery_flows_one_per_attempt ON recovery_flows (attempt_hash);
ALTER TABLE recovery_flows ADD COLUMN source TEXT NOT NULL DEFAULT '*';
