-- Counts the account's passwords: every reset, change and This wasn't me moves it on, and a
-- known-device token is bound to the generation it was issued in (a timestamp is not enough:
-- two changes can fall in one second).
ALTER TABLE accounts ADD COLUMN password_generation INTEGER NOT NULL DEFAULT 0;
