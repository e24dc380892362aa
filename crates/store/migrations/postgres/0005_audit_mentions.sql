-- Further subjects a leaf is about, beyond its own subject column: the candidates an
-- identification returned. A subject's history is its own leaves plus the leaves that
-- mention it, so every use of a person's template is listed with its leaf index.

CREATE TABLE audit_mentions (
    subject TEXT NOT NULL,
    idx BIGINT NOT NULL REFERENCES audit_leaves (idx),
    PRIMARY KEY (subject, idx)
);
