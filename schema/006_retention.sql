-- 006_retention.sql - what retention (memwatchd --keep-days,
-- --keep-findings-days, --max-db-mb; daemon/retention.c) needs. Applied
-- once, in a transaction, when user_version < 6.
--
-- Retention removes the rows of processes no longer traced in two
-- stages: their raw rows first (threads, keys, bindings, blocks, and the
-- stacks and sites no finding of theirs needs), then, later, the rest:
-- their findings, stacks, sites and the process row itself.

-- When retention removed the process's raw rows; 0: it did not. Its
-- counters (allocs, live_blocks, ...) stay what they were at its end.
ALTER TABLE processes ADD COLUMN pruned_ts INTEGER NOT NULL DEFAULT 0;

-- Ended processes, oldest first: the order retention removes them in.
CREATE INDEX processes_end ON processes(end_ts);

-- One process's findings: what retention keeps (their stacks and sites)
-- or removes with them.
CREATE INDEX findings_proc ON findings(proc_id);

-- Settings of the database itself. serial_floor: serials up to this one
-- were handed out, even if the rows that had them were removed since;
-- store__next_serial never goes below it, so an id is never reused.
CREATE TABLE meta (
	name          TEXT PRIMARY KEY,
	value         INTEGER NOT NULL
) WITHOUT ROWID;
