-- Subjects who locked the use of their biometrics: while a row exists, verification and
-- enrolment are refused and identification never returns them.

CREATE TABLE subject_locks (
    subject TEXT PRIMARY KEY,
    locked_at BIGINT NOT NULL,
    client_id TEXT NOT NULL
);
