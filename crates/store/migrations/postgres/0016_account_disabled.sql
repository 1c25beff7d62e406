-- An operator's `latchkey account disable`: while set, no session is issued to the account
-- (the statement that inserts a session checks it under the account row's lock), so a
-- sign-in or recovery already under way cannot finish after the disable.
ALTER TABLE accounts ADD COLUMN disabled_at BIGINT;
