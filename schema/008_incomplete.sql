-- 008_incomplete.sql - incomplete traces (docs/RELIABILITY.md, "Overload
-- without false alarms"). Applied once, in a transaction, when
-- user_version < 8.
--
-- Events of a process can be lost (the ring buffer or a BPF map was full;
-- counted in lost) or refused by the daemon at a bound (--max-blocks,
-- --max-threads, --max-keys; counted in dropped). The window in which
-- that happened, first to latest (ns since the epoch, 0: never), marks
-- what the trace may miss: a finding needing an event from that window
-- is withheld, and withheld counts them.
ALTER TABLE processes ADD COLUMN dropped INTEGER NOT NULL DEFAULT 0;
ALTER TABLE processes ADD COLUMN incomplete_from INTEGER NOT NULL DEFAULT 0;
ALTER TABLE processes ADD COLUMN incomplete_to INTEGER NOT NULL DEFAULT 0;
ALTER TABLE processes ADD COLUMN withheld INTEGER NOT NULL DEFAULT 0;
