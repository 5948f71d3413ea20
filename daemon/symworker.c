/*
 * symworker.c - see symworker.h.
 *
 * One mutex guards the request ring, the answer list and the reference
 * count; the worker holds it only to take a request or hand an answer,
 * never across a lookup. Invariants: the ring holds n <= cap requests
 * from head; each request's fd, when not -1, is owned by the ring until
 * the worker takes it; the eventfd is non-zero while answers wait. The
 * struct is freed by whichever of the loop (symworker__free) and the
 * worker lets go of it last (refs), so a worker stuck in a network
 * lookup never holds up the daemon's exit (an idle one is joined).
 */
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hash.h"
#include "symindex.h"
#include "symworker.h"

struct req {
	uint64_t file, addr;
	int fd;
	char *name;
};

struct ans {
	struct ans *next;
	struct symworker_res r;
};

/* The worker's own view of one file: a Dwfl whose find_debuginfo is
 * libdw's standard one (local paths, then debuginfod). */
struct wfile {
	Dwfl *dwfl;
	Dwfl_Module *mod;
	struct symindex *syms;
	bool syms_tried;
};

struct symworker {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	struct req *ring;
	int cap, head, n;
	struct ans *ans, **ans_tail;
	int efd;
	int refs;
	bool stop;
	bool started;
	bool busy; /* in a lookup, the mutex let go */
	struct hmap files; /* the worker's alone: file id -> struct wfile */
};

static const Dwfl_Callbacks worker_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
};

/* Drop a reference under w->mu (held); free everything at the last. */
static void unref_locked(struct symworker *w)
{
	size_t pos = 0;
	uint64_t k;
	void *v;

	if (--w->refs) {
		pthread_mutex_unlock(&w->mu);
		return;
	}
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < w->n; i++) {
		struct req *q = &w->ring[(w->head + i) % w->cap];

		if (q->fd >= 0)
			close(q->fd);
		free(q->name);
	}
	while (w->ans) {
		struct ans *a = w->ans;

		w->ans = a->next;
		free(a);
	}
	while (hmap__next(&w->files, &pos, &k, &v)) {
		struct wfile *f = v;

		symindex__free(f->syms);
		if (f->dwfl)
			dwfl_end(f->dwfl);
		free(f);
	}
	hmap__fini(&w->files);
	close(w->efd);
	free(w->ring);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

/* The worker's file for q, made at its first request (which brings the
 * fd); NULL when it cannot be read. */
static struct wfile *wfile_get(struct symworker *w, struct req *q)
{
	bool made = false;
	struct wfile *f = hmap__get_new(&w->files, q->file, sizeof(*f), &made);

	if (!f || !made) {
		if (q->fd >= 0)
			close(q->fd);
		q->fd = -1;
		return f;
	}
	if (q->fd < 0)
		return f;
	f->dwfl = dwfl_begin(&worker_callbacks);
	if (f->dwfl) {
		dwfl_report_begin(f->dwfl);
		/* At bias 0, as the loop's: addresses are link-time ones.
		 * The module takes the fd when it is made. */
		f->mod = dwfl_report_elf(f->dwfl, q->name ? q->name : "",
					 q->name ? q->name : "", q->fd, 0,
					 false);
		dwfl_report_end(f->dwfl, NULL, NULL);
	}
	if (!f->mod) {
		close(q->fd);
		if (f->dwfl)
			dwfl_end(f->dwfl);
		f->dwfl = NULL;
	}
	q->fd = -1;
	return f;
}

/* The slow part: the function (its symbols, from the debug file when the
 * file has none of its own) and the source line (DWARF). */
static void resolve(struct wfile *f, uint64_t addr, struct symworker_res *r)
{
	const char *name = NULL;
	bool decided = false;
	uint64_t off = 0, size = 0;
	Dwfl_Line *line;

	if (!f || !f->mod)
		return;
	if (!f->syms_tried) {
		f->syms_tried = true;
		f->syms = symindex__new(f->mod);
	}
	if (f->syms)
		name = symindex__find_sized(f->syms, addr, &off, &size,
					    &decided);
	if (!decided) {
		GElf_Off o = 0;
		GElf_Sym sym;

		name = dwfl_module_addrinfo(f->mod, addr, &o, &sym, NULL,
					    NULL, NULL);
		off = o;
	}
	if (name) {
		r->named = true;
		r->off = off;
		snprintf(r->function, sizeof(r->function), "%s", name);
	}
	line = dwfl_module_getsrc(f->mod, addr);
	if (line) {
		int lineno = 0;
		const char *src =
		    dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);

		if (src) {
			snprintf(r->src, sizeof(r->src), "%s", src);
			r->line = lineno > 0 ? (uint32_t)lineno : 0;
		}
	}
}

static void *worker_main(void *arg)
{
	struct symworker *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		struct req q;
		struct ans *a;
		uint64_t one = 1;

		while (!w->n && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stop)
			break;
		q = w->ring[w->head];
		w->head = (w->head + 1) % w->cap;
		w->n--;
		w->busy = true;
		pthread_mutex_unlock(&w->mu);

		a = calloc(1, sizeof(*a));
		if (a) {
			a->r.file = q.file;
			a->r.addr = q.addr;
			resolve(wfile_get(w, &q), q.addr, &a->r);
		} else {
			wfile_get(w, &q); /* keeps the fd: asked again later */
		}
		free(q.name);

		pthread_mutex_lock(&w->mu);
		w->busy = false;
		if (a) {
			*w->ans_tail = a;
			w->ans_tail = &a->next;
			/* A full counter fails: readable anyway. */
			(void)!write(w->efd, &one, sizeof(one));
		}
	}
	unref_locked(w);
	return NULL;
}

struct symworker *symworker__new(int cap)
{
	struct symworker *w = calloc(1, sizeof(*w));
	int err = ENOMEM;

	if (!w)
		return NULL;
	w->cap = cap > 0 ? cap : 1;
	w->ring = calloc((size_t)w->cap, sizeof(*w->ring));
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!w->ring || w->efd < 0) {
		err = w->ring ? errno : ENOMEM;
		goto fail;
	}
	w->ans_tail = &w->ans;
	w->refs = 1;
	hmap__init(&w->files);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	return w;
fail:
	if (w->efd >= 0)
		close(w->efd);
	free(w->ring);
	free(w);
	errno = err;
	return NULL;
}

void symworker__free(struct symworker *w)
{
	pthread_t thread;
	bool join;

	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->cv);
	/* Idle, it ends at once: wait for it, so that what its libraries
	 * keep per thread (libcurl's, OpenSSL's) is let go at its exit.
	 * Busy, it is left to end on its own; w is not touched after the
	 * unref, which may free it. */
	thread = w->thread;
	join = w->started && !w->busy;
	if (w->started && !join)
		pthread_detach(thread);
	unref_locked(w);
	if (join)
		pthread_join(thread, NULL);
}

int symworker__fd(const struct symworker *w)
{
	return w->efd;
}

int symworker__ask(struct symworker *w, uint64_t file, int fd,
		   const char *name, uint64_t addr)
{
	struct req *q;
	char *copy = NULL;

	if (fd >= 0 && name && !(copy = strdup(name)))
		return -ENOMEM;
	pthread_mutex_lock(&w->mu);
	/* Started at the first request, not at start-up: by then the
	 * daemon dropped its capabilities (a thread keeps its own, taken
	 * from its creator) and forked what it forks (the guard, CMD). */
	if (!w->started) {
		int err = pthread_create(&w->thread, NULL, worker_main, w);

		if (err) {
			pthread_mutex_unlock(&w->mu);
			free(copy);
			return -err;
		}
		w->started = true;
		w->refs++;
	}
	if (w->n == w->cap) {
		pthread_mutex_unlock(&w->mu);
		free(copy);
		return -EAGAIN;
	}
	q = &w->ring[(w->head + w->n) % w->cap];
	*q = (struct req){.file = file, .addr = addr, .fd = fd, .name = copy};
	w->n++;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

int symworker__take(struct symworker *w, struct symworker_res *out, int max)
{
	uint64_t v;
	int n = 0;

	pthread_mutex_lock(&w->mu);
	while (w->ans && n < max) {
		struct ans *a = w->ans;

		w->ans = a->next;
		if (!w->ans)
			w->ans_tail = &w->ans;
		out[n++] = a->r;
		free(a);
	}
	if (!w->ans) /* EAGAIN: already clear */
		(void)!read(w->efd, &v, sizeof(v));
	pthread_mutex_unlock(&w->mu);
	return n;
}
