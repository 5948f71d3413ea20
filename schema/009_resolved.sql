-- 009_resolved.sql - findings that resolve (docs/RULES.md, "Findings
-- that resolve"). Applied once, in a transaction, when user_version < 9.
--
-- A finding whose evidence went away (its blocks freed, its growth given
-- back) is resolved: resolved_ts is when (ns since the epoch; 0: still
-- open), resolved_reason says why, for people. A resolved finding never
-- opens again: evidence that comes back makes a new row.
ALTER TABLE findings ADD COLUMN resolved_ts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE findings ADD COLUMN resolved_reason TEXT NOT NULL DEFAULT '';

-- memwatchctl findings lists the open ones by default, in id order: the
-- index holds them first, so a database of many resolved findings does
-- not make that list slower.
CREATE INDEX findings_open ON findings(resolved_ts, id);
