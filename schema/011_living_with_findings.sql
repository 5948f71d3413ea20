-- 011_living_with_findings.sql - findings people chose not to see as open
-- (docs/RULES.md, "Living with findings"). Applied once, in a
-- transaction, when user_version < 11.
--
-- suppressed: the rule of memwatchd's suppressions file that matched the
-- finding when it was last written, as "FILE:LINE" ('' none).
ALTER TABLE findings ADD COLUMN suppressed TEXT NOT NULL DEFAULT '';
