-- Call budgets per destination number and per client network, separately for sign-up and
-- recovery (issue 10), counted with the purpose's lock row held.

ALTER TABLE calls ADD COLUMN client_network TEXT NOT NULL DEFAULT '';
CREATE INDEX calls_by_destination ON calls (to_number, created_at);
CREATE INDEX calls_by_client ON calls (client_network, created_at);
CREATE INDEX calls_by_purpose ON calls (purpose, created_at);

CREATE TABLE call_budget_locks (purpose TEXT PRIMARY KEY);
INSERT INTO call_budget_locks (purpose) VALUES ('recovery'), ('sign_up');
