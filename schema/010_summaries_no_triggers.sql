-- 010_summaries_no_triggers.sql - site_usage and site_thread_usage kept
-- by memwatchd itself, no longer by triggers on live_blocks.
-- Applied once, in a transaction, after the migrations before it.
--
-- The triggers of schema/005 ran three statements per block row written
-- or deleted: about a third of a block write's cost on a 10M-block
-- database. memwatchd now sums what a flush (or a retention step)
-- writes and deletes per (proc_id, site, tid, pid), from the rows
-- themselves, and writes each touched summary row once, before the
-- commit, in the same transaction (store/store_usage.c). The tables stay
-- as they are: the triggers kept them exact up to this migration, so
-- they are exact when it is applied, and nothing needs recomputing.
DROP TRIGGER live_blocks_usage_ins;
DROP TRIGGER live_blocks_usage_del;
DROP TRIGGER live_blocks_usage_upd;
