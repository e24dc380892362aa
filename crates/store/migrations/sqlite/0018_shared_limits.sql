-- Limits shared by every node on one database (issue 19): each client's request rate (GCRA:
-- the theoretical arrival time of its next request, in microseconds) and each subject's failed
-- verifications and lockouts. Used on PostgreSQL, where several nodes share a database; SQLite
-- has one process, which keeps them in memory, so these tables stay empty there.
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    tat INTEGER NOT NULL
);

CREATE TABLE lockout_failures (
    key TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX lockout_failures_key ON lockout_failures (key, at);

CREATE TABLE lockouts (
    key TEXT PRIMARY KEY,
    until INTEGER NOT NULL
);
