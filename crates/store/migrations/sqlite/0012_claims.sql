-- Compensation claims on disputed decisions, and the compensation reserve as a double-entry
-- ledger in integer minor units: every transaction's lines sum to zero per currency.

CREATE TABLE claims (
    id TEXT PRIMARY KEY,
    decision_id TEXT NOT NULL,
    leaf_index INTEGER NOT NULL,
    client_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount INTEGER NOT NULL,
    reason TEXT NOT NULL,
    filed_at INTEGER NOT NULL,
    deadline INTEGER NOT NULL,
    status TEXT NOT NULL,
    decided_at INTEGER,
    decision_reason TEXT
);

CREATE TABLE reserve_entries (
    txn TEXT NOT NULL,
    line INTEGER NOT NULL,
    at INTEGER NOT NULL,
    account TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount INTEGER NOT NULL,
    memo TEXT NOT NULL,
    PRIMARY KEY (txn, line)
);
