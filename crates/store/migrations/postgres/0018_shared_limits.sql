-- Limits shared by every node on one database (issue 19): each client's request rate (GCRA:
-- the theoretical arrival time of its next request, in microseconds) and each subject's failed
-- verifications and lockouts. UNLOGGED: no write-ahead log and emptied after a crash. A limit's
-- state is not a record (a crash of one node already reset its in-memory limits); what it buys
-- is a write per request that costs no log flush.
CREATE UNLOGGED TABLE rate_limits (
    key TEXT PRIMARY KEY,
    tat BIGINT NOT NULL
);

CREATE UNLOGGED TABLE lockout_failures (
    key TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX lockout_failures_key ON lockout_failures (key, at);

CREATE UNLOGGED TABLE lockouts (
    key TEXT PRIMARY KEY,
    until BIGINT NOT NULL
);
