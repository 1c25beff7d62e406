-- A session's public id: what the owner's session list names and `Sign out` on one session
-- sends, so the token's hash never leaves the database. Sessions issued before this
-- migration have none (they end within the absolute lifetime) and are ended only by
-- `Sign out everywhere`.
ALTER TABLE sessions ADD COLUMN public_id TEXT;
CREATE UNIQUE INDEX sessions_public_id ON sessions (public_id);
