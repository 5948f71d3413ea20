-- 003_process_mode.sql - how each process is traced, and what malloc it
-- runs. Applied once, in a transaction, when user_version < 3.

-- 1 full (allocations, frees and TLS), 2 TLS only (malloc untouched).
ALTER TABLE processes ADD COLUMN mode INTEGER NOT NULL DEFAULT 1;
-- "glibc", "mimalloc", "jemalloc", "tcmalloc"; '' when not known.
ALTER TABLE processes ADD COLUMN allocator TEXT NOT NULL DEFAULT '';
