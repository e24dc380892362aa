-- Claim reviewers: a role of its own, each with a bearer token stored as an HMAC digest.

CREATE TABLE reviewers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    digest BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
