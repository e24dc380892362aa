-- The audit ledger (SQLite): one row per leaf, in log order, written in the same transaction
-- as the change it records. audit_head holds the size and the last leaf hash; every writer
-- updates it, so indexes are gap-free and leaves are appended in commit order.

CREATE TABLE audit_leaves (
    idx INTEGER PRIMARY KEY,
    leaf BLOB NOT NULL,
    hash BLOB NOT NULL,
    subject TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX audit_leaves_subject ON audit_leaves (subject);

CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL,
    last_hash BLOB NOT NULL
);
INSERT INTO audit_head (id, size, last_hash) VALUES (1, 0, zeroblob(32));
