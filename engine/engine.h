/*
 * engine.h - the portable analysis engine: live sets, thread counters,
 * TLS keys and bindings, and the rules that turn them into findings.
 *
 * The engine makes no OS calls and takes no locks: one thread feeds it
 * events in order and asks it to tick and flush. Its memory is the source
 * of truth; flushing hands what changed since the last flush to a sink
 * (the store, in the daemon; a printer, in tests).
 *
 * Rules (one block each, decided grace_ns after their trigger):
 *  - tls-outlived-thread: a live block bound to a thread's TLS slot is
 *    still live after that thread exited on its own.
 *  - tls-outlived-key: a live block bound to a key is still live after
 *    pthread_key_delete of that key.
 *  - tls-overwritten: pthread_setspecific replaced a value that was a
 *    live block by one that does not link it, and that block is still
 *    live; one row per key and allocating site, counting such blocks.
 * Rules over time (one row per site or thread, updated; see rules.c):
 *  - thread-orphan: a site leaves live blocks behind in exited threads.
 *  - thread-growth: a long-lived thread's live set keeps growing.
 *  - site-growth: one site's live bytes keep growing.
 *  - bad-free: a free site frees blocks twice.
 *  - allocator-retention: the process's anonymous memory grows while
 *    threads exit and its live set does not.
 *  - allocator-race: a user's --alloc/--free pair entered by two threads
 *    at once, in a pool that never took a lock (engine_race.c).
 * When a process exits, pending candidates are decided at once: a block
 * never freed after its thread or key died is a finding.
 */
#ifndef MEMWATCH_ENGINE_H
#define MEMWATCH_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "rows.h"

struct engine;

/*
 * Says what an allocating stack passes through (enum mw_stack_flags). The
 * engine calls it once per distinct stack of a process, when first seen,
 * while the process lives: the daemon symbolizes, a test looks up a table.
 */
typedef uint32_t (*engine_classify_fn)(void *ctx, uint32_t pid,
				       const uint64_t *frames,
				       uint32_t nframes);
/*
 * For a classifier, while it runs: the fan-out of the stack frames[0..n)
 * in process pid (out[i], i < max: how many distinct frames[i + 1] the
 * process's stacks starting with frames[0 .. i] have, up to the first
 * four frames). Returns how many out[] were set, 0 for an unknown pid.
 * The classifier takes allocation wrappers from it (daemon/wrapper.c).
 */
uint32_t engine__stack_fanout(const struct engine *e, uint32_t pid,
			      const uint64_t *frames, uint32_t n,
			      uint32_t *out, uint32_t max);
/*
 * Is ip inside the C library or the dynamic loader, or in code the caller
 * cannot place? Asked only for a free of an unknown block whose event does
 * not say MW_EVF_INTERNAL already: glibc's own bookkeeping is not the
 * program's bad free, and a free from unplaceable code is no evidence.
 */
typedef bool (*engine_internal_fn)(void *ctx, uint32_t pid, uint64_t ip);

/* Live-byte samples a site or thread keeps for the growth rules. */
#define ENGINE_MAX_SAMPLES 16

/* Zero fields take the defaults below. */
struct engine_config {
	uint64_t grace_ns;	 /* let a program free a block just after */
	uint64_t persist_age_ns; /* blocks younger than this stay in memory */
	engine_classify_fn classify; /* may be NULL: no flags */
	engine_internal_fn internal; /* may be NULL: none is */
	void *classify_ctx;	     /* for both */
	/* thread-orphan: blocks still live this long after their thread
	 * exited are left behind; a site is flagged once it has left
	 * blocks behind in this many threads. */
	uint64_t orphan_age_ns;
	uint32_t orphan_min_threads;
	/* ... and once that many left blocks behind in at least this
	 * percentage of the exited threads that allocated at it (a
	 * per-thread leak leaves blocks in nearly every one, a cache or
	 * free list in a few); severity medium from orphan_share_medium
	 * on, low below it (high when TLS by its stack). 1 .. 100. */
	uint32_t orphan_share;
	uint32_t orphan_share_medium;
	/* thread-growth and site-growth: live bytes sampled every
	 * sample_ns; growing at each of growth_samples - 1 steps in a row,
	 * by growth_min_bytes at least in all, is growth. */
	uint32_t growth_samples; /* 2 .. ENGINE_MAX_SAMPLES */
	uint64_t sample_ns;
	uint64_t growth_min_bytes;
	/* ... and growth seen is a finding once it went on this long
	 * (rules.c, growth_judge); under sample_ns (ENGINE_GROWTH_AT_ONCE)
	 * at once, as soon as the window sees it. */
	uint64_t growth_horizon_ns;
	/* bad-free: freed addresses remembered to tell a double free from
	 * a free of something never seen. */
	uint32_t recent_frees;
	/* allocator-retention: anonymous memory grown by this much over
	 * the growth window while threads exited and the live set did
	 * not. */
	uint64_t retention_min_bytes;
	/* Bounds per process (0: no limit): live blocks, threads held
	 * (running, or exited and holding blocks), TLS keys. An event that
	 * would pass one is refused and counted as dropped: its process is
	 * incomplete from then on, exactly as for a lost event. */
	uint32_t max_blocks;
	uint32_t max_threads;
	uint32_t max_keys;
	/* Block rows (writes and deletes) one flush hands the sink at most;
	 * 0: no limit. What is left goes in the next flush (see
	 * engine__flush_more), so a burst of long-lived blocks never holds
	 * the caller away from its events for long. */
	uint32_t flush_max_rows;
};

#define ENGINE_DEFAULT_GRACE_NS (500ull * 1000 * 1000)
#define ENGINE_DEFAULT_PERSIST_AGE_NS (1000ull * 1000 * 1000)
/* At ~30-90 us a block row (docs/PERFORMANCE.md), a flush of this many
 * takes 0.15-0.45 s, which the ring buffer absorbs. */
#define ENGINE_DEFAULT_FLUSH_ROWS 5000u
#define ENGINE_DEFAULT_ORPHAN_AGE_NS (2000ull * 1000 * 1000)
#define ENGINE_DEFAULT_ORPHAN_MIN_THREADS 3
#define ENGINE_DEFAULT_ORPHAN_SHARE 50
#define ENGINE_DEFAULT_ORPHAN_SHARE_MEDIUM 90
#define ENGINE_DEFAULT_GROWTH_SAMPLES 6
#define ENGINE_DEFAULT_SAMPLE_NS (500ull * 1000 * 1000)
#define ENGINE_DEFAULT_GROWTH_MIN_BYTES (256ull * 1024)
#define ENGINE_DEFAULT_GROWTH_HORIZON_NS (60000ull * 1000 * 1000)
#define ENGINE_GROWTH_AT_ONCE 1ull
#define ENGINE_DEFAULT_RECENT_FREES 65536
#define ENGINE_DEFAULT_RETENTION_MIN_BYTES (32ull << 20)
/* A block takes about 56 bytes (its record and index slots): 2.8 GB. */
#define ENGINE_DEFAULT_MAX_BLOCKS 50000000u
#define ENGINE_DEFAULT_MAX_THREADS 1000000u
/* glibc has 1024 keys (PTHREAD_KEYS_MAX): never reached by glibc. */
#define ENGINE_DEFAULT_MAX_KEYS 4096u

/*
 * Where flushed state goes. Every callback returns 0 or a negative errno.
 * A flush is one transaction: begin, rows, commit. The engine marks its
 * state clean only after commit succeeds; on any error it calls rollback
 * and the same changes are handed over again at the next flush (rows are
 * upserts, so a repeated row is harmless). begin, commit and rollback may
 * be NULL.
 */
struct engine_sink {
	int (*begin)(void *ctx);
	int (*commit)(void *ctx);
	void (*rollback)(void *ctx);
	int (*process)(void *ctx, const struct mw_process_row *row);
	int (*thread)(void *ctx, const struct mw_thread_row *row);
	int (*key)(void *ctx, const struct mw_key_row *row);
	int (*binding)(void *ctx, const struct mw_binding_row *row);
	int (*block_add)(void *ctx, const struct mw_block_row *row);
	int (*block_del)(void *ctx, uint64_t serial);
	int (*finding)(void *ctx, const struct mw_finding_row *row);
	/* A site first referenced by a flushed block, finding or stack. */
	int (*site)(void *ctx, uint64_t proc_id, uint32_t pid, uint64_t ip);
	/* A stack first referenced by a flushed block or finding; handed
	 * before that row, and before the sites of its frames. May be
	 * NULL. */
	int (*stack)(void *ctx, const struct mw_stack_row *row);
};

struct engine_stats {
	uint64_t events;
	uint64_t lost;		/* MW_EV_LOST counts: lost by the collector */
	uint64_t dropped;	/* refused at the bounds of engine_config */
	uint64_t withheld;	/* findings withheld: incomplete evidence */
	uint64_t processes;	/* currently traced */
	uint64_t live_blocks;	/* across traced processes */
	uint64_t findings;
	uint64_t pending;	/* candidates waiting out their grace */
	uint64_t stacks;	/* distinct stacks held */
};

struct engine *engine__new(const struct engine_config *cfg,
			   uint64_t first_serial);
void engine__free(struct engine *e);

/* Start tracking pid (idempotent). comm may be NULL. Returns proc id. */
int engine__attach(struct engine *e, uint32_t pid, const char *comm,
		   uint64_t now, uint64_t *proc_id);
/* Stop tracking pid: decide nothing, keep what was flushed. */
int engine__detach(struct engine *e, uint32_t pid, uint64_t now);
int engine__is_traced(const struct engine *e, uint32_t pid);
/*
 * How pid is traced (enum mw_trace_mode); MW_MODE_FULL after attach. In
 * MW_MODE_TLS no allocation or free is seen: a TLS value is known when it
 * is set (sized by the collector), is taken as released when its slot is
 * cleared or overwritten, or by its key's destructor at thread exit, and
 * the rules over time and tls-overwritten do not run.
 */
int engine__set_mode(struct engine *e, uint32_t pid, uint32_t mode);
/* Where pid lives: its pid in its own namespace, its cgroup v2 path. */
int engine__set_identity(struct engine *e, uint32_t pid, uint32_t nspid,
			 const char *cgroup);
/* The allocator pid runs, for people ("glibc", "mimalloc", ...). */
int engine__set_allocator(struct engine *e, uint32_t pid, const char *name);

/* Events for untracked pids are ignored (returns 0). */
int engine__feed(struct engine *e, const struct mw_event *ev);
/* Decide candidates whose grace ran out by now. */
void engine__tick(struct engine *e, uint64_t now);
/* The last engine__flush stopped at flush_max_rows: flush again soon. */
bool engine__flush_more(const struct engine *e);
/* Hand everything changed since the last flush to sink (block rows up to
 * flush_max_rows). */
int engine__flush(struct engine *e, uint64_t now,
		  const struct engine_sink *sink, void *ctx);

void engine__stats(const struct engine *e, struct engine_stats *st);
/*
 * What the engine's state for the traced processes takes, estimated from
 * its tables' sizes (not the allocator's overhead; ended processes, freed
 * at the next flush, are left out): the total, and the process holding
 * the most (*pid 0 when none) with its share.
 */
uint64_t engine__memory(const struct engine *e, uint32_t *pid, uint64_t *bytes);
/*
 * Verify the engine's bookkeeping by walking all it holds (engine/
 * engine_check.c, for tests and fuzzers: it costs a walk of every live
 * block). Returns 0, or -EINVAL and the first broken invariant in why.
 */
int engine__check(const struct engine *e, char *why, size_t len);
/*
 * New rule thresholds, at run time (engine/engine_config.c): every field of
 * cfg but recent_frees and the callbacks, zero taking the default as in
 * engine__new. Nothing held is lost; what is already scheduled keeps its
 * time. Returns 0, or -EINVAL for a growth_samples out of range.
 */
int engine__set_config(struct engine *e, const struct engine_config *cfg);

/*
 * Read-only views for exporters (engine/engine_export.c): what the engine
 * holds right now, walked in no particular order. The engine must not
 * change during a walk; callbacks return 0 to go on, non-zero to stop
 * (that value is returned).
 */

/* One process: traced (row->state MW_PROC_TRACING), or ended (exited or
 * detached) and held until its last rows are flushed. */
struct engine_proc_view {
	const struct mw_process_row *row;
	uint64_t anon_bytes;	 /* anonymous memory it maps (full mode) */
	uint64_t threads_alive;	 /* threads running now */
	uint64_t threads_exited; /* threads that exited on their own, ever */
};

int engine__each_process(const struct engine *e,
			 int (*fn)(void *ctx, const struct engine_proc_view *pv),
			 void *ctx);
/* Every thread of the traced processes the engine holds: the running
 * ones, and exited ones not yet released (those owning live blocks
 * among them). */
int engine__each_thread(const struct engine *e,
			int (*fn)(void *ctx, const struct mw_process_row *proc,
				  const struct mw_thread_row *t),
			void *ctx);

/* An allocation site of a traced process that holds live blocks: its
 * call site, the culprit past allocation wrappers once its stack is
 * classified (as flushed rows name it; a stack younger than its first
 * flush is not yet, and counts at its first frame), and what its live
 * blocks hold. Several sites (stacks) may share one ip. */
struct engine_site_view {
	uint64_t ip;
	uint64_t live_bytes, live_blocks;
};

int engine__each_site(const struct engine *e,
		      int (*fn)(void *ctx, const struct mw_process_row *proc,
				const struct engine_site_view *sv),
		      void *ctx);

#endif
