-- Short-lived links a relying party issues so that one person can open their privacy portal:
-- only the HMAC digest of the link's token is stored, with the subject's pseudonym, the
-- issuing client and the expiry. Erasing the subject deletes them.

CREATE TABLE portal_links (
    digest TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients(id),
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE INDEX portal_links_subject ON portal_links (subject);
