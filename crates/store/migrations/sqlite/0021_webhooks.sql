-- Events to relying parties (issue 21).
--
-- The client's own identifier for a subject, sealed under a key derived from the subject's
-- ledger key (so erasing the subject row destroys it): webhook payloads name the person the
-- way the relying party does, and nothing else. NULL for subjects no client has named since.
ALTER TABLE subjects ADD COLUMN sealed_ref BLOB;

-- Where a client wants its events: the URL, the event types, and the signing secret sealed
-- under the service's webhook key. Disabled endpoints keep their delivery log.
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients(id),
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    disabled_at INTEGER
);

CREATE INDEX webhook_endpoints_client ON webhook_endpoints (client_id);

-- The outbox: one row per message to one endpoint, written in the transaction of the change
-- it reports. The payload is sealed (it names a subject). next_attempt_at is NULL once the
-- message is delivered or given up; leased_until keeps two nodes from sending it at once.
CREATE TABLE webhook_messages (
    id TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id),
    event TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    leased_until INTEGER,
    delivered_at INTEGER,
    failed_at INTEGER
);

CREATE INDEX webhook_messages_due ON webhook_messages (next_attempt_at);
CREATE INDEX webhook_messages_endpoint ON webhook_messages (endpoint_id, created_at);

-- The delivery log: every attempt, with the receiver's status or why it could not be reached.
CREATE TABLE webhook_attempts (
    message_id TEXT NOT NULL REFERENCES webhook_messages(id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    at INTEGER NOT NULL,
    status INTEGER,
    error TEXT,
    PRIMARY KEY (message_id, attempt)
);
