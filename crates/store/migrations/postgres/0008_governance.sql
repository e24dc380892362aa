-- The risk group (members' Ed25519 public keys and a quorum), proposals for sensitive
-- changes with their canonical payload, and the members' signatures over it.

CREATE TABLE risk_group (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    quorum BIGINT NOT NULL,
    members TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE proposals (
    id TEXT PRIMARY KEY,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    result TEXT
);

CREATE TABLE approvals (
    proposal_id TEXT NOT NULL REFERENCES proposals(id),
    member TEXT NOT NULL,
    signature BYTEA NOT NULL,
    approved_at BIGINT NOT NULL,
    PRIMARY KEY (proposal_id, member)
);
