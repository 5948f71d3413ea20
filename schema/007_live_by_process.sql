-- 007_live_by_process.sql - `memwatchctl live --pid P` on a big database:
-- one process's largest blocks without sorting all of them (2.4M blocks
-- of one process took 4.5 s through live_blocks_thread and a sort; see
-- docs/PERFORMANCE.md). Applied once, in a transaction, when
-- user_version < 7. Each write of a block pays for one more index entry.
CREATE INDEX live_blocks_proc_size ON live_blocks(proc_id, size DESC, serial);
