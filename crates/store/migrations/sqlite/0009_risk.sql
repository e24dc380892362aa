-- Risk controls: each purpose's policy (compact text; NULL: the defaults), capture devices
-- registered by clients with their Ed25519 public keys, and one-time capture challenges.

ALTER TABLE purposes ADD COLUMN risk TEXT;

CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients(id),
    name TEXT NOT NULL,
    public_key BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE challenges (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    purpose_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
