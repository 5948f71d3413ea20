-- 005_query_indexes.sql - what memwatchctl's queries need to stay fast on
-- a big database (10M live blocks, 1M threads: tests/bench/query.sh).
-- Applied once, in a transaction, when user_version < 5.
--
-- Each index and trigger below costs every write to its table; what each
-- costs memwatchd is measured with tests/bench/gen_db (--sql 'DROP ...').

-- top: what each allocation site holds, kept up to date by the triggers
-- below, so that ranking the sites reads a few thousand rows instead of
-- summing every block. Keyed by pid as well as proc_id so that
-- `top --pid` selects the rows the blocks' own pid would.
CREATE TABLE site_usage (
	proc_id       INTEGER NOT NULL,
	site          INTEGER NOT NULL,
	pid           INTEGER NOT NULL,
	blocks        INTEGER NOT NULL,
	bytes         INTEGER NOT NULL,
	threads       INTEGER NOT NULL,	-- distinct tids among the blocks
	PRIMARY KEY (proc_id, site, pid)
) WITHOUT ROWID;

-- The same per (site, thread): `top --per thread`, and what keeps
-- site_usage.threads exact as blocks come and go.
CREATE TABLE site_thread_usage (
	proc_id       INTEGER NOT NULL,
	site          INTEGER NOT NULL,
	tid           INTEGER NOT NULL,
	pid           INTEGER NOT NULL,
	blocks        INTEGER NOT NULL,
	bytes         INTEGER NOT NULL,
	PRIMARY KEY (proc_id, site, tid, pid)
) WITHOUT ROWID;

INSERT INTO site_thread_usage (proc_id, site, tid, pid, blocks, bytes)
	SELECT proc_id, site, tid, pid, count(*), sum(size) FROM live_blocks
	GROUP BY proc_id, site, tid, pid;
INSERT INTO site_usage (proc_id, site, pid, blocks, bytes, threads)
	SELECT proc_id, site, pid, sum(blocks), sum(bytes), count(*)
	FROM site_thread_usage GROUP BY proc_id, site, pid;

-- A block counts from its insert to its delete. A block written again
-- goes through INSERT ... ON CONFLICT DO UPDATE (store/store.c), which
-- fires the update trigger; never INSERT OR REPLACE on live_blocks: the
-- delete it implies fires no trigger (unless recursive_triggers is on).
CREATE TRIGGER live_blocks_usage_ins AFTER INSERT ON live_blocks BEGIN
	INSERT INTO site_thread_usage (proc_id, site, tid, pid, blocks, bytes)
		VALUES (NEW.proc_id, NEW.site, NEW.tid, NEW.pid, 1, NEW.size)
		ON CONFLICT DO UPDATE SET blocks = blocks + 1,
		bytes = bytes + excluded.bytes;
	INSERT INTO site_usage (proc_id, site, pid, blocks, bytes, threads)
		VALUES (NEW.proc_id, NEW.site, NEW.pid, 1, NEW.size, 1)
		ON CONFLICT DO UPDATE SET blocks = blocks + 1,
		bytes = bytes + excluded.bytes,
		threads = threads + (SELECT blocks = 1 FROM site_thread_usage
			WHERE proc_id = NEW.proc_id AND site = NEW.site
			AND tid = NEW.tid AND pid = NEW.pid);
END;

CREATE TRIGGER live_blocks_usage_del AFTER DELETE ON live_blocks BEGIN
	UPDATE site_thread_usage SET blocks = blocks - 1,
		bytes = bytes - OLD.size
		WHERE proc_id = OLD.proc_id AND site = OLD.site
		AND tid = OLD.tid AND pid = OLD.pid;
	UPDATE site_usage SET blocks = blocks - 1, bytes = bytes - OLD.size,
		threads = threads - (SELECT blocks = 0 FROM site_thread_usage
			WHERE proc_id = OLD.proc_id AND site = OLD.site
			AND tid = OLD.tid AND pid = OLD.pid)
		WHERE proc_id = OLD.proc_id AND site = OLD.site
		AND pid = OLD.pid;
	DELETE FROM site_thread_usage WHERE proc_id = OLD.proc_id
		AND site = OLD.site AND tid = OLD.tid AND pid = OLD.pid
		AND blocks = 0;
	DELETE FROM site_usage WHERE proc_id = OLD.proc_id
		AND site = OLD.site AND pid = OLD.pid AND blocks = 0;
END;

-- An update is the old row's delete, then the new row's insert.
CREATE TRIGGER live_blocks_usage_upd
	AFTER UPDATE OF proc_id, pid, tid, size, site ON live_blocks BEGIN
	UPDATE site_thread_usage SET blocks = blocks - 1,
		bytes = bytes - OLD.size
		WHERE proc_id = OLD.proc_id AND site = OLD.site
		AND tid = OLD.tid AND pid = OLD.pid;
	UPDATE site_usage SET blocks = blocks - 1, bytes = bytes - OLD.size,
		threads = threads - (SELECT blocks = 0 FROM site_thread_usage
			WHERE proc_id = OLD.proc_id AND site = OLD.site
			AND tid = OLD.tid AND pid = OLD.pid)
		WHERE proc_id = OLD.proc_id AND site = OLD.site
		AND pid = OLD.pid;
	DELETE FROM site_thread_usage WHERE proc_id = OLD.proc_id
		AND site = OLD.site AND tid = OLD.tid AND pid = OLD.pid
		AND blocks = 0;
	DELETE FROM site_usage WHERE proc_id = OLD.proc_id
		AND site = OLD.site AND pid = OLD.pid AND blocks = 0;
	INSERT INTO site_thread_usage (proc_id, site, tid, pid, blocks, bytes)
		VALUES (NEW.proc_id, NEW.site, NEW.tid, NEW.pid, 1, NEW.size)
		ON CONFLICT DO UPDATE SET blocks = blocks + 1,
		bytes = bytes + excluded.bytes;
	INSERT INTO site_usage (proc_id, site, pid, blocks, bytes, threads)
		VALUES (NEW.proc_id, NEW.site, NEW.pid, 1, NEW.size, 1)
		ON CONFLICT DO UPDATE SET blocks = blocks + 1,
		bytes = bytes + excluded.bytes,
		threads = threads + (SELECT blocks = 1 FROM site_thread_usage
			WHERE proc_id = NEW.proc_id AND site = NEW.site
			AND tid = NEW.tid AND pid = NEW.pid);
END;

-- top: a site's oldest block, and its bytes of the last two windows,
-- read from the index alone, without its other blocks.
CREATE INDEX live_blocks_site ON live_blocks(proc_id, site, ts, size);

-- live: largest first, as stored: no sort of every block.
CREATE INDEX live_blocks_size ON live_blocks(size DESC);

-- thread TID: its rows without reading every thread.
CREATE INDEX threads_tid ON threads(tid);

-- thread TID: one thread's blocks, largest first. It serves every query
-- live_blocks_proc (proc_id, tid) served, so it takes its place.
DROP INDEX live_blocks_proc;
CREATE INDEX live_blocks_thread ON live_blocks(proc_id, tid, size DESC);
