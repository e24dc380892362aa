-- The risk group (members' Ed25519 public keys and a quorum), proposals for sensitive
-- changes with their canonical payload, and the members' signatures over it.

CREATE TABLE risk_group (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    quorum INTEGER NOT NULL,
    members TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE proposals (
    id TEXT PRIMARY KEY,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    result TEXT
);

CREATE TABLE approvals (
    proposal_id TEXT NOT NULL REFERENCES proposals(id),
    member TEXT NOT NULL,
    signature BLOB NOT NULL,
    approved_at INTEGER NOT NULL,
    PRIMARY KEY (proposal_id, member)
);
