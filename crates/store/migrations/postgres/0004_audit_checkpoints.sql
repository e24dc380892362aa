-- Signed checkpoints the service issued (PostgreSQL): one per size, kept so auditors can fetch
-- the service's own signed history.
CREATE TABLE audit_checkpoints (
    size BIGINT PRIMARY KEY,
    note TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
