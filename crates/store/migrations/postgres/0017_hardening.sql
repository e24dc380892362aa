-- Hardening (issue 19).
--
-- Counters the ledger's writer keeps as it appends leaves, in the same transaction: leaves by
-- operation (decision '') and, for the operations whose outcomes the transparency report
-- gives, by operation and decision. The report reads these rows, never the leaves, so its
-- cost does not grow with the ledger. Existing leaves are counted when this migration runs.
CREATE TABLE audit_counts (
    op TEXT NOT NULL,
    decision TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (op, decision)
);

-- Each verification's and identification's decision id with the index of its leaf, so that a
-- claim finds the decision it disputes by key, never by scanning leaves.
CREATE TABLE audit_decisions (
    decision_id TEXT PRIMARY KEY,
    idx BIGINT NOT NULL
);

-- A subject's history is read a page at a time, in ledger order.
CREATE INDEX audit_leaves_subject_idx ON audit_leaves (subject, idx);
DROP INDEX audit_leaves_subject;

-- Expired challenges are purged by expiry.
CREATE INDEX challenges_expires ON challenges (expires_at);

-- How many key issues the risk group has approved for a client that may search and that have
-- not been used yet (see ADR 0012).
ALTER TABLE clients ADD COLUMN key_issues_approved BIGINT NOT NULL DEFAULT 0;

-- Portal links are single-use: opening one records when and starts a session whose own token
-- (its digest here) the cookie carries.
ALTER TABLE portal_links ADD COLUMN opened_at BIGINT;
ALTER TABLE portal_links ADD COLUMN session_digest TEXT;
CREATE UNIQUE INDEX portal_links_session ON portal_links (session_digest);
