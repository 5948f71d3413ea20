-- 002_stacks_evidence.sql - allocation stacks, and findings that carry
-- their evidence. Applied once, in a transaction, when user_version < 2.

-- A deduplicated allocating user stack. frames: the return addresses,
-- innermost (the call site) first, as lower-case hex separated by spaces;
-- each has its row in sites once symbolized.
CREATE TABLE stacks (
	id            INTEGER PRIMARY KEY,
	proc_id       INTEGER NOT NULL REFERENCES processes(id),
	pid           INTEGER NOT NULL,
	flags         INTEGER NOT NULL DEFAULT 0,
	nframes       INTEGER NOT NULL,
	frames        TEXT NOT NULL
);
CREATE INDEX stacks_proc ON stacks(proc_id);

ALTER TABLE live_blocks ADD COLUMN stack_id INTEGER NOT NULL DEFAULT 0;

-- Findings from 001 describe one block each: count 1, severity high.
-- Rules that judge a site or a thread over time update one row as their
-- evidence grows (count, bytes, threads, last_ts) instead of adding rows.
ALTER TABLE findings ADD COLUMN stack_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE findings ADD COLUMN severity INTEGER NOT NULL DEFAULT 3;
ALTER TABLE findings ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE findings ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE findings ADD COLUMN threads INTEGER NOT NULL DEFAULT 1;
ALTER TABLE findings ADD COLUMN first_ts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE findings ADD COLUMN last_ts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE findings ADD COLUMN detail TEXT NOT NULL DEFAULT '';
UPDATE findings SET bytes = size, first_ts = found_ts, last_ts = found_ts;
CREATE INDEX findings_kind ON findings(kind, severity);
