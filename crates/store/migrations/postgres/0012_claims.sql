-- Compensation claims on disputed decisions, and the compensation reserve as a double-entry
-- ledger in integer minor units: every transaction's lines sum to zero per currency.

CREATE TABLE claims (
    id TEXT PRIMARY KEY,
    decision_id TEXT NOT NULL,
    leaf_index BIGINT NOT NULL,
    client_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL,
    reason TEXT NOT NULL,
    filed_at BIGINT NOT NULL,
    deadline BIGINT NOT NULL,
    status TEXT NOT NULL,
    decided_at BIGINT,
    decision_reason TEXT
);

CREATE TABLE reserve_entries (
    txn TEXT NOT NULL,
    line BIGINT NOT NULL,
    at BIGINT NOT NULL,
    account TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL,
    memo TEXT NOT NULL,
    PRIMARY KEY (txn, line)
);
