/*
 * reload.c - the settings read again (SIGHUP, memwatchctl reload) and
 * applied while tracing, and the check that the targets settings name
 * exist, at start-up and before each reload.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cgroup.h"
#include "collector.h"
#include "engine.h"
#include "log.h"
#include "memwatchd.h"
#include "notify.h"
#include "options.h"
#include "proto.h"
#include "retention.h"

/*
 * What the settings name must exist: pids, executables, groups and
 * units. Returns 0, or -errno and one line naming the first that does
 * not. On a reload (old set), pids the old settings named already are
 * not checked: one of them exiting must not make the file unreloadable.
 */
int daemon__check_targets(const struct options *o, const struct options *old,
		      char *msg, size_t len)
{
	char path[PATH_MAX];
	struct stat st;
	uint64_t id;
	int err;

	for (int i = 0; i < o->npids; i++) {
		bool known = false;

		for (int j = 0; old && j < old->npids; j++)
			known |= old->pids[j] == o->pids[i];
		if (!known && !process__exists(o->pids[i])) {
			snprintf(msg, len, "no such process: '%u'", o->pids[i]);
			return -ESRCH;
		}
	}
	for (int i = 0; i < o->nexes; i++) {
		if (stat(o->exes[i], &st)) {
			err = -errno;
			snprintf(msg, len, "--exe '%s': %s", o->exes[i],
				 strerror(-err));
			return err;
		}
		if (!S_ISREG(st.st_mode)) {
			snprintf(msg, len, "--exe '%s': not a regular file",
				 o->exes[i]);
			return -EINVAL;
		}
	}
	for (int i = 0; i < o->ncgroups; i++) {
		err = cgroup__resolve(o->cgroups[i], o->units[i], path,
				      sizeof(path), &id);
		/* A unit that is not running yet is watched for. */
		if (err == -ENOENT && o->units[i])
			continue;
		if (err) {
			snprintf(msg, len, "%s '%s': %s",
				 o->units[i] ? "unit" : "cgroup", o->cgroups[i],
				 err == -ENOENT	  ? "no such cgroup"
				 : err == -ENODEV ? "no cgroup2 file system"
						  : strerror(-err));
			return err;
		}
	}
	return 0;
}

/* The targets by name the settings hold, as (kind, name) pairs. */
struct named {
	uint32_t kind; /* enum mw_watch_kind */
	const char *name;
};

static int named_targets(const struct options *o, struct named *t)
{
	int n = 0;

	for (int i = 0; i < o->nexes; i++)
		t[n++] = (struct named){MW_WATCH_EXE, o->exes[i]};
	for (int i = 0; i < o->ncomms; i++)
		t[n++] = (struct named){MW_WATCH_COMM, o->comms[i]};
	for (int i = 0; i < o->ncgroups; i++)
		t[n++] = (struct named){o->units[i] ? MW_WATCH_UNIT
						    : MW_WATCH_CGROUP,
					o->cgroups[i]};
	return n;
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* Settings a reload cannot change, named when they did. */
static void warn_restart(const struct options *o, const struct options *n)
{
	bool fns = o->nfunctions != n->nfunctions ||
		   o->nwrappers != n->nwrappers ||
		   o->wrapper_callers != n->wrapper_callers;

	for (int i = 0; !fns && i < o->nfunctions; i++)
		fns = o->functions[i].kind != n->functions[i].kind ||
		      strcmp(o->functions[i].func, n->functions[i].func) ||
		      o->functions[i].ptr_arg != n->functions[i].ptr_arg ||
		      o->functions[i].size_arg != n->functions[i].size_arg ||
		      o->functions[i].count_arg != n->functions[i].count_arg;
	for (int i = 0; !fns && i < o->nwrappers; i++)
		fns = strcmp(o->wrappers[i], n->wrappers[i]);
	if (!same_str(o->db, n->db) || !same_str(o->socket, n->socket) || fns ||
	    o->stack_frames != n->stack_frames ||
	    o->unwind_bytes != n->unwind_bytes ||
	    !same_str(o->metrics.listen, n->metrics.listen) ||
	    !same_str(o->metrics.textfile, n->metrics.textfile) ||
	    !same_str(o->events_json, n->events_json) ||
	    o->metrics.top_threads != n->metrics.top_threads ||
	    o->metrics.top_sites != n->metrics.top_sites ||
	    o->ringbuf_mb != n->ringbuf_mb ||
	    o->max_targets != n->max_targets ||
	    o->max_pending != n->max_pending)
		log_warnx("reload: 'db', 'socket', 'alloc', 'realloc', 'free', "
			  "'wrapper', 'wrapper-callers', 'stack-frames', "
			  "'unwind-bytes', 'metrics-*', 'events-json', "
			  "'ringbuf-mb', "
			  "'max-targets' and 'max-pending' changes take effect "
			  "at restart");
}

/*
 * Read the settings again (SIGHUP, memwatchctl reload) and apply what can
 * change while tracing: targets, rule thresholds, log level. Everything
 * is checked before anything changes, so a bad file leaves the running
 * settings whole: returns -errno and one line in msg. Nothing traced or
 * held is lost: targets no longer named are unwatched (their processes
 * detached, their rows kept), and every target named is watched again,
 * which applies a new --tls to processes started from now on and
 * follows an executable replaced since (watches go by inode).
 */
int daemon__reload(struct daemon *d, char *msg, size_t len)
{
	struct named was[3 * MAX_WATCH], now[3 * MAX_WATCH];
	struct options next;
	struct options *o = d->opts;
	enum collector_watch how;
	char why[PATH_MAX + 128];
	int nwas, nnow, err;

	msg[0] = '\0';
	notify__reloading();
	if ((err = options__reload(o, &next, msg, len)) ||
	    (err = daemon__check_targets(&next, o, msg, len)) ||
	    (err = engine__set_config(d->engine, &next.ecfg))) {
		if (err == -EINVAL && !msg[0])
			snprintf(msg, len, "invalid rule settings");
		options__free(&next);
		notify__ready("%s", "reload failed: running on as before");
		return err;
	}
	log_init(next.log_level);
	warn_restart(o, &next);
	nwas = named_targets(o, was);
	nnow = named_targets(&next, now);
	for (int i = 0; i < nwas; i++) {
		bool kept = false;

		for (int j = 0; j < nnow && !kept; j++)
			kept = was[i].kind == now[j].kind &&
			       !strcmp(was[i].name, now[j].name);
		if (!kept && daemon__watch(d, was[i].kind, was[i].name,
				   COLLECTOR_UNWATCH, why, sizeof(why)))
			log_warnx("reload: %s", why);
	}
	how = next.tls_cmd ? COLLECTOR_WATCH_TLS : COLLECTOR_WATCH;
	for (int i = 0; i < nnow; i++)
		if (daemon__watch(d, now[i].kind, now[i].name, how, why,
				  sizeof(why)))
			log_warnx("reload: %s", why);
	for (int i = 0; i < o->npids; i++) {
		bool kept = false;

		for (int j = 0; j < next.npids && !kept; j++)
			kept = o->pids[i] == next.pids[j];
		if (!kept && engine__is_traced(d->engine, o->pids[i]) &&
		    daemon__detach(d, o->pids[i], why, sizeof(why)))
			log_warnx("reload: %s", why);
	}
	options__replace(o, &next);
	for (int i = 0; i < o->npids; i++) {
		if (engine__is_traced(d->engine, o->pids[i]))
			continue;
		if (daemon__attach(d, o->pids[i], o->tls_pids[i], why,
				   sizeof(why)))
			log_warnx("reload: %s", why);
		else
			daemon__follow(d, o->pids[i]);
	}
	retention__configure(d->retention, &o->retention);
	daemon__suppress_again(d);
	log_info("configuration reloaded");
	notify__ready("%s", "configuration reloaded");
	return 0;
}
