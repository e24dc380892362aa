-- Notifications owed to subjects affected by an incident, with their deadline.

CREATE TABLE notifications (
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    subject TEXT NOT NULL,
    purpose_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    deadline INTEGER NOT NULL,
    sent_at INTEGER,
    PRIMARY KEY (incident_id, subject, purpose_id)
);
