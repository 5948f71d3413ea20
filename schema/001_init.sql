-- 001_init.sql - the first memwatch schema.
-- Applied once, in a transaction, when PRAGMA user_version < 1.
-- Ids are engine serials (see common/rows.h): unique per database.
-- Times are ns since the Unix epoch; 0 = not yet.

CREATE TABLE processes (
	id            INTEGER PRIMARY KEY,
	pid           INTEGER NOT NULL,
	state         INTEGER NOT NULL,
	comm          TEXT NOT NULL DEFAULT '',
	start_ts      INTEGER NOT NULL,
	end_ts        INTEGER NOT NULL DEFAULT 0,
	exit_code     INTEGER NOT NULL DEFAULT 0,
	threads       INTEGER NOT NULL DEFAULT 0,
	allocs        INTEGER NOT NULL DEFAULT 0,
	frees         INTEGER NOT NULL DEFAULT 0,
	live_blocks   INTEGER NOT NULL DEFAULT 0,
	live_bytes    INTEGER NOT NULL DEFAULT 0,
	unknown_frees INTEGER NOT NULL DEFAULT 0,
	lost          INTEGER NOT NULL DEFAULT 0,
	findings      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX processes_pid ON processes(pid);

CREATE TABLE threads (
	proc_id       INTEGER NOT NULL REFERENCES processes(id),
	tid           INTEGER NOT NULL,
	pid           INTEGER NOT NULL,
	state         INTEGER NOT NULL,
	comm          TEXT NOT NULL DEFAULT '',
	start_ts      INTEGER NOT NULL,
	exit_ts       INTEGER NOT NULL DEFAULT 0,
	allocs        INTEGER NOT NULL DEFAULT 0,
	frees         INTEGER NOT NULL DEFAULT 0,
	alloc_bytes   INTEGER NOT NULL DEFAULT 0,
	free_bytes    INTEGER NOT NULL DEFAULT 0,
	cross_frees   INTEGER NOT NULL DEFAULT 0,
	unknown_frees INTEGER NOT NULL DEFAULT 0,
	live_blocks   INTEGER NOT NULL DEFAULT 0,
	live_bytes    INTEGER NOT NULL DEFAULT 0,
	-- tids are reused within a process: a thread is a tid and its start
	PRIMARY KEY (proc_id, tid, start_ts)
) WITHOUT ROWID;

CREATE TABLE keys (
	proc_id       INTEGER NOT NULL REFERENCES processes(id),
	key           INTEGER NOT NULL,
	generation    INTEGER NOT NULL,
	pid           INTEGER NOT NULL,
	state         INTEGER NOT NULL,
	create_tid    INTEGER NOT NULL DEFAULT 0,
	destructor    INTEGER NOT NULL DEFAULT 0,
	create_ts     INTEGER NOT NULL DEFAULT 0,
	delete_ts     INTEGER NOT NULL DEFAULT 0,
	bindings      INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (proc_id, key, generation)
) WITHOUT ROWID;

CREATE TABLE tls_bindings (
	proc_id       INTEGER NOT NULL REFERENCES processes(id),
	tid           INTEGER NOT NULL,
	key           INTEGER NOT NULL,
	generation    INTEGER NOT NULL,
	pid           INTEGER NOT NULL,
	value         INTEGER NOT NULL,
	block         INTEGER NOT NULL DEFAULT 0,
	size          INTEGER NOT NULL DEFAULT 0,
	set_ts        INTEGER NOT NULL,
	PRIMARY KEY (proc_id, tid, key)
) WITHOUT ROWID;

CREATE TABLE live_blocks (
	serial        INTEGER PRIMARY KEY,
	proc_id       INTEGER NOT NULL REFERENCES processes(id),
	pid           INTEGER NOT NULL,
	tid           INTEGER NOT NULL,
	addr          INTEGER NOT NULL,
	size          INTEGER NOT NULL,
	ts            INTEGER NOT NULL,
	site          INTEGER NOT NULL
);
CREATE INDEX live_blocks_proc ON live_blocks(proc_id, tid);

CREATE TABLE sites (
	proc_id       INTEGER NOT NULL REFERENCES processes(id),
	ip            INTEGER NOT NULL,
	module        TEXT NOT NULL DEFAULT '',
	function      TEXT NOT NULL DEFAULT '',
	offset        INTEGER NOT NULL DEFAULT 0,
	file          TEXT NOT NULL DEFAULT '',
	line          INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (proc_id, ip)
) WITHOUT ROWID;

CREATE TABLE findings (
	id            INTEGER PRIMARY KEY,
	kind          INTEGER NOT NULL,
	proc_id       INTEGER NOT NULL REFERENCES processes(id),
	pid           INTEGER NOT NULL,
	tid           INTEGER NOT NULL,
	key           INTEGER NOT NULL,
	generation    INTEGER NOT NULL,
	alloc_tid     INTEGER NOT NULL,
	block         INTEGER NOT NULL,
	addr          INTEGER NOT NULL,
	size          INTEGER NOT NULL,
	site          INTEGER NOT NULL,
	alloc_ts      INTEGER NOT NULL,
	trigger_ts    INTEGER NOT NULL,
	found_ts      INTEGER NOT NULL
);
CREATE INDEX findings_pid ON findings(pid, found_ts);
