-- bioguard schema, version 1 (PostgreSQL). Times are Unix seconds (UTC).
-- No column holds a biometric value or a secret in clear: templates and data keys are sealed,
-- API keys and admin tokens are HMAC digests, subjects are keyed pseudonyms.

CREATE TABLE purposes (
    id TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    operations TEXT NOT NULL,
    dimension BIGINT NOT NULL,
    threshold DOUBLE PRECISION NOT NULL,
    retention_days_since_enrolment BIGINT NOT NULL,
    retention_days_since_last_use BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_digest BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE grants (
    client_id TEXT NOT NULL REFERENCES clients(id),
    purpose_id TEXT NOT NULL REFERENCES purposes(id),
    operation TEXT NOT NULL,
    PRIMARY KEY (client_id, purpose_id, operation)
);

CREATE TABLE admin_tokens (
    id TEXT PRIMARY KEY,
    digest BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE system_secrets (
    name TEXT PRIMARY KEY,
    kek TEXT NOT NULL,
    wrapped BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE subjects (
    pseudonym TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

-- seq orders consent records by when they were written (timestamps are whole seconds).
CREATE TABLE consents (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL REFERENCES subjects(pseudonym),
    purpose_id TEXT NOT NULL REFERENCES purposes(id),
    notice_version TEXT NOT NULL,
    method TEXT NOT NULL,
    client_id TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    ended_at BIGINT,
    end_reason TEXT
);
CREATE UNIQUE INDEX consents_live ON consents (subject, purpose_id) WHERE ended_at IS NULL;
CREATE INDEX consents_subject ON consents (subject);

CREATE TABLE data_keys (
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL REFERENCES subjects(pseudonym),
    purpose_id TEXT NOT NULL REFERENCES purposes(id),
    kek TEXT NOT NULL,
    wrapped BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (subject, purpose_id)
);

CREATE TABLE templates (
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL REFERENCES subjects(pseudonym),
    purpose_id TEXT NOT NULL REFERENCES purposes(id),
    data_key_id TEXT NOT NULL REFERENCES data_keys(id),
    format BIGINT NOT NULL,
    sealed BYTEA NOT NULL,
    enrolled_at BIGINT NOT NULL,
    last_used_at BIGINT,
    UNIQUE (subject, purpose_id)
);
