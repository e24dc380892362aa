-- Versioned privacy notices, one row per version of a purpose's notice, never changed once
-- published: body is the notice as canonical JSON and hash its SHA-256 (hex), so a consent
-- that names (purpose, version) names exactly one text. material: whether this version
-- requires existing consents to be given again; reconsent_days: how long templates under an
-- earlier consent stay usable for verification after it (NULL: until re-consent).

CREATE TABLE notices (
    purpose_id TEXT NOT NULL REFERENCES purposes(id),
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    hash TEXT NOT NULL,
    material INTEGER NOT NULL,
    reconsent_days INTEGER,
    published_at INTEGER NOT NULL,
    PRIMARY KEY (purpose_id, version)
);
