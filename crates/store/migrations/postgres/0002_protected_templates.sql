-- Protected templates and galleries (PostgreSQL).
-- Templates now hold a sealed protected code made under the purpose's protection key; the key
-- version is recorded so that rotating the key revokes every code made under the old one.

ALTER TABLE purposes ADD COLUMN code_bits BIGINT NOT NULL DEFAULT 2048;
ALTER TABLE purposes ADD COLUMN max_gallery_size BIGINT;
ALTER TABLE purposes ADD COLUMN calibration TEXT;
ALTER TABLE purposes ADD COLUMN protection_version BIGINT NOT NULL DEFAULT 1;

CREATE TABLE protection_keys (
    purpose_id TEXT NOT NULL REFERENCES purposes(id),
    version BIGINT NOT NULL,
    kek TEXT NOT NULL,
    wrapped BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (purpose_id, version)
);

ALTER TABLE templates ADD COLUMN protection_version BIGINT NOT NULL DEFAULT 1;

CREATE TABLE template_galleries (
    template_id TEXT NOT NULL REFERENCES templates(id) ON DELETE CASCADE,
    purpose_id TEXT NOT NULL,
    gallery TEXT NOT NULL,
    PRIMARY KEY (template_id, gallery)
);
CREATE INDEX template_galleries_by_gallery ON template_galleries (purpose_id, gallery);
