-- The fairness gate: each purpose's fairness policy (compact text; NULL: the defaults), the
-- state of its live matcher configuration ('none': no report was ever accepted, 'passed': the
-- report met the policy, 'override': a risk-group quorum activated it regardless), and the
-- fairness reports received, by their SHA-256, so that an override can name the one it set
-- aside.

ALTER TABLE purposes ADD COLUMN fairness TEXT;
ALTER TABLE purposes ADD COLUMN fairness_status TEXT NOT NULL DEFAULT 'none';
ALTER TABLE purposes ADD COLUMN fairness_report TEXT;
ALTER TABLE purposes ADD COLUMN fairness_at INTEGER;

CREATE TABLE fairness_reports (
    sha256 TEXT PRIMARY KEY,
    purpose_id TEXT NOT NULL REFERENCES purposes(id),
    body TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
