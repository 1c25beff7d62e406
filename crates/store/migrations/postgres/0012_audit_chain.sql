-- The audit log's chain (latchkey_domain::audit_chain): each record's place, counting from 1
-- with no gaps, and its MAC over its content, its place and the previous record's MAC. Records
-- written before this migration stay outside the chain (both columns NULL).
ALTER TABLE audit_log ADD COLUMN seq BIGINT;
ALTER TABLE audit_log ADD COLUMN chain_mac BYTEA;
CREATE UNIQUE INDEX audit_log_seq ON audit_log (seq);
