-- The audit ledger (PostgreSQL): one row per leaf, in log order, written in the same
-- transaction as the change it records. audit_head holds the size and the last leaf hash;
-- every writer locks and updates it, so indexes are gap-free and leaves are appended in
-- commit order across nodes.

CREATE TABLE audit_leaves (
    idx BIGINT PRIMARY KEY,
    leaf BYTEA NOT NULL,
    hash BYTEA NOT NULL,
    subject TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX audit_leaves_subject ON audit_leaves (subject);

CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    size BIGINT NOT NULL,
    last_hash BYTEA NOT NULL
);
INSERT INTO audit_head (id, size, last_hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));
