-- 011_living_with_findings.sql - findings people chose not to see as open
-- (docs/RULES.md, "Living with findings"). Applied once, in a
-- transaction, when user_version < 11.
--
-- suppressed: the rule of memwatchd's suppressions file that matched the
-- finding when it was last written, as "FILE:LINE" ('' none).
ALTER TABLE findings ADD COLUMN suppressed TEXT NOT NULL DEFAULT '';

-- ack_ts, ack_note: acknowledged by people (memwatchctl ack ID --note
-- TEXT) at ack_ts (ns since the epoch; 0: not), with a note. Only the
-- daemon's ack request writes them: the engine's upserts keep them.
ALTER TABLE findings ADD COLUMN ack_ts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE findings ADD COLUMN ack_note TEXT NOT NULL DEFAULT '';
