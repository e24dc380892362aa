-- Tenants: one relying-party organisation each, the controller of the people it serves.
-- Everything made before tenants existed belongs to the default tenant. A purpose's tenant is
-- part of its id (`acme:login`; the default tenant's purposes keep their plain names), so
-- consents, templates, galleries and grants follow their purpose; a subject's pseudonym is
-- keyed by its tenant, so the same identifier at two tenants is two people.

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
INSERT INTO tenants (id, name, created_at) VALUES ('default', 'Default tenant', 0);

-- Clients made before this change keep the subject rights they effectively had (all of
-- them); new clients are created with the rights their request names, by default none.
-- (SQLite cannot add a column that both references a table and has a default: the service
-- checks the tenant exists.)
ALTER TABLE clients ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE clients ADD COLUMN rights TEXT NOT NULL DEFAULT 'read,erase,lock,portal';

-- The random half of each subject's ledger key (the other is a service secret): the public
-- ledger carries tags made with that key, never the pseudonym. Erasure deletes the row and
-- with it any way to tie the subject's leaves to them. Subjects made before this change get
-- one here, from the database's own random source.
ALTER TABLE subjects ADD COLUMN ledger_salt BLOB;
UPDATE subjects SET ledger_salt = randomblob(32) WHERE ledger_salt IS NULL;

-- Verification reads the salt in its one statement: a covering index answers from one B-tree.
CREATE INDEX subjects_ledger_salt ON subjects (pseudonym, ledger_salt);

-- Whether the person set the lock themselves (in the portal): then only they lift it.
ALTER TABLE subject_locks ADD COLUMN by_subject INTEGER NOT NULL DEFAULT 0;

CREATE INDEX claims_decision ON claims (decision_id);
