-- A retired purpose takes no new consents or enrolments; the templates it holds keep being
-- used until the retention schedule deletes them (issue 21). NULL: the purpose is live.
ALTER TABLE purposes ADD COLUMN retired_at INTEGER;
