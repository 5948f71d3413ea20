/*
 * memwatchd.h - what the daemon's own files share: struct daemon, the
 * state of the one thread that runs the collector, the engine and the
 * store (memwatchd.c says how), and the functions each file gives the
 * others. Nothing outside daemon/ includes it.
 *
 * The files call each other in one direction only, down this list: a
 * file calls those below it, never one above (nor one beside it, for
 * the last two). What calls back up goes through a function pointer
 * handed down: the collector's events (daemon__on_event), the control
 * socket's requests (daemon__on_request), the engine's classifiers.
 *
 *   memwatchd.c  main: start-up and shut-down
 *   loop.c       the epoll loop: the timer's work, signals, the socket
 *   request.c    control requests
 *   reload.c     reload; the check of the targets the settings name
 *   watch.c      targets by name: executables, commands, groups, units
 *   targets.c    processes: attach, detach, spawn, the collector's events
 *   dbfile.c     the database file, flushing the engine to it, and the
 *                stored findings matched against reloaded suppressions
 *   classify.c   the engine's stack and call-site classifiers
 */
#ifndef MEMWATCH_MEMWATCHD_H
#define MEMWATCH_MEMWATCHD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "collector.h"
#include "event.h"
#include "flush.h"
#include "kernel.h"
#include "options.h"

#define MAX_CGWATCH 64

struct daemon {
	struct kernel kernel; /* its features, probed at start */
	struct engine *engine;
	struct store *store;
	struct collector *col;
	struct symbolizer *sym;
	struct wrappers *wrappers; /* allocation wrappers (wrapper.h) */
	struct control *ctl;
	struct metrics *metrics; /* Prometheus export */
	struct emitter *events;	 /* findings as events (emitter.h) */
	struct guard *guard;	 /* resumes held processes if we die */
	struct retention *retention; /* pruning by age and size */
	struct options *opts;	 /* the settings in force */
	int epfd, sigfd, timerfd;
	pid_t child;
	int child_status;
	bool child_done;
	bool stop;
	uint64_t started;
	uint64_t last_flush;
	struct flusher flusher; /* the engine's rows into the store */
	int db_gone;   /* the database file removed or replaced, logged once */
	int mm_err;    /* likewise for the mm tracepoints */
	/* Groups watched by name (--cgroup, --unit): systemd makes a unit's
	 * group anew at each start, with a new id, so each tick resolves
	 * the names again and moves a watch to its group's new id (0: the
	 * unit is not running, watched for when it starts). */
	struct cgwatch {
		char *name;
		uint32_t kind; /* MW_WATCH_CGROUP or MW_WATCH_UNIT */
		enum collector_watch how;
		uint64_t id;
	} cgw[MAX_CGWATCH];
	int ncgw;
	uint64_t shed; /* processes detached at --max-memory-mb */
	uint32_t gone[MAX_PIDS]; /* exited pids to forget after a flush */
	int ngone;
	/* pids that exec'ed: name their allocator at the next tick, once the
	 * loader has mapped it. */
	struct {
		uint32_t pid;
		uint64_t until; /* name it at every tick until then */
	} execed[MAX_PIDS];
	int nexeced;
};

/* loop.c: the signals, the timer and the fds, at start-up; then the
 * loop, until a signal stops it or the command exits. */
void daemon__loop_init(struct daemon *d);
void daemon__loop(struct daemon *d);

/* request.c: a control_handler (control.h); ctx is the daemon. */
int daemon__on_request(void *ctx, uint16_t type, const void *req,
		       uint32_t req_len, void *reply, uint32_t *reply_len,
		       char *msg, size_t msglen);

/* reload.c: do the targets settings o name exist (old: the settings in
 * force, on a reload)? Then the reload itself. Both return 0, or -errno
 * and one line in msg. */
int daemon__check_targets(const struct options *o, const struct options *old,
			  char *msg, size_t len);
int daemon__reload(struct daemon *d, char *msg, size_t len);

/* watch.c: watch or unwatch a target by name (enum mw_watch_kind); the
 * targets the options name; at each tick, follow groups that moved. */
extern const char *const watch_names[]; /* by enum mw_watch_kind */
int daemon__watch(struct daemon *d, uint32_t kind, const char *name,
		  enum collector_watch how, char *msg, size_t len);
void daemon__watch_programs(struct daemon *d, const struct options *o);
void daemon__cgwatch_refresh(struct daemon *d);

/* targets.c: attach and detach (0, or -errno and one line in msg); a
 * program held at exec, or one whose report was lost; the collector's
 * events (a collector_cb; ctx is the daemon); at each tick, name the
 * allocators of programs that exec'ed; read the ring buffer; fork and
 * exec the command. */
int daemon__attach(struct daemon *d, uint32_t pid, bool tls_only, char *msg,
		   size_t len);
int daemon__detach(struct daemon *d, uint32_t pid, char *msg, size_t len);
void daemon__on_spawn(struct daemon *d, uint32_t pid, bool tls_only);
void daemon__on_missed(void *ctx, uint32_t pid, bool tls_only);
void daemon__on_event(void *ctx, const struct mw_event *ev);
void daemon__name_allocators(struct daemon *d, uint64_t now);
void daemon__drain(struct daemon *d);
pid_t daemon__spawn(struct daemon *d, char **cmd, bool tls_cmd);
/* Follow the children of pid, a -- CMD or --pid target, unless
 * --no-follow; logs why not when the kernel cannot hold them. */
void daemon__follow(struct daemon *d, uint32_t pid);
/* A process's /proc entries. */
int process__exists(uint32_t pid);
void process__read_comm(uint32_t pid, char *comm, size_t len);

/* dbfile.c: the file (0 or -errno; dbfile__lock: the fd held); before
 * each flush, the file removed or replaced; the flusher; one flush. */
int dbfile__lock(const char *path);
int dbfile__restrict(const char *db);
void dbfile__make_default_dir(const char *path, const char *deflt);
void daemon__check_db(struct daemon *d);
void daemon__flush_init(struct daemon *d);
int daemon__flush(struct daemon *d, uint64_t now);
/* After a reload: the stored findings matched against the suppressions
 * again. */
void daemon__suppress_again(struct daemon *d);

/* classify.c: engine_config's classify and internal; ctx is the
 * daemon. */
uint32_t daemon__classify_stack(void *ctx, uint32_t pid,
				const uint64_t *frames, uint32_t n);
bool daemon__internal_site(void *ctx, uint32_t pid, uint64_t ip);

#endif
