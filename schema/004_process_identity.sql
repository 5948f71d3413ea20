-- 004_process_identity.sql - where a process lives: its pid inside its
-- own pid namespace (a container's view) and its cgroup v2 path. Applied
-- once, in a transaction, when user_version < 4.

ALTER TABLE processes ADD COLUMN nspid INTEGER NOT NULL DEFAULT 0;
ALTER TABLE processes ADD COLUMN cgroup TEXT NOT NULL DEFAULT '';
