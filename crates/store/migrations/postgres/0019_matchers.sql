-- Each protection key records the matcher it drives (issue 20, ADR 0024): the transform and
-- the population mean subtracted before it. Keys made before keep the Gaussian transform with
-- no centre, so their codes keep matching.
ALTER TABLE protection_keys ADD COLUMN transform TEXT NOT NULL DEFAULT 'gaussian-sign';
ALTER TABLE protection_keys ADD COLUMN centre BYTEA;
