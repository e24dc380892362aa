-- Risk-group approvals made with passkeys (issue 22).
--
-- A passkey approval keeps the whole WebAuthn assertion so anyone can check it again: the
-- signature stays in approvals.signature, the rest (credential id, authenticator data,
-- client data) is JSON in approvals.assertion. NULL there means an Ed25519 approval.
ALTER TABLE approvals ADD COLUMN assertion TEXT;

-- The last signature counter each passkey showed: an assertion whose counter does not move
-- forward is a replay or a cloned key, and is refused.
CREATE TABLE passkey_counters (
    credential_id TEXT PRIMARY KEY,
    sign_count BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
