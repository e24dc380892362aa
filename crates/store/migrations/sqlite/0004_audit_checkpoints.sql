-- Signed checkpoints the service issued (SQLite): one per size, kept so auditors can fetch
-- the service's own signed history.
CREATE TABLE audit_checkpoints (
    size INTEGER PRIMARY KEY,
    note TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
