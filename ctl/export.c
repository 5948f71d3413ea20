/*
 * export.c - see export.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elffile.h"
#include "export.h"
#include "outfile.h"
#include "rowfmt.h"

/* --- pprof and folded: live blocks by stack ---------------------------- */

/*
 * Each module of each process gets its mapping as the process had it,
 * for profile readers to symbolize addresses again. The store keeps a
 * site's module path, function and offset in it, not where the module
 * was loaded nor its build id: both come from the module's file, read
 * now (elffile.c). The function's symbol value plus the site's offset is
 * the site's link-time address; the site's address minus that is the
 * load bias, and the loadable segment holding it gives the mapping's
 * range and file offset. A module whose file is gone or was replaced
 * (no such symbol, a bias not page-aligned) keeps the mapping of its
 * locations alone; the build id is then the file's as it is now, only
 * if the segment checked out.
 */
/* MOD_ID_MAX: a build id in hex (64 bytes at most) and its NUL. */
enum { MOD_TRIES = 8, PAGE = 4096, MOD_ID_MAX = 129 };

struct module {
	uint64_t proc_id;
	char path[MW_SITE_STR];
	unsigned tries; /* sites tried for the bias, up to MOD_TRIES */
	bool done;
	char build_id[MOD_ID_MAX];
	uint64_t start, limit, offset;
};

struct profile_ctx {
	struct store *s;
	struct pprof *p;
	struct module *mods;
	size_t nmods, cap;
	uint64_t comm_proc; /* comm is that process's */
	char comm[MW_COMM_MAX];
};

/* The module entry of path in process proc_id, added if new; NULL when
 * out of memory. */
static struct module *module_of(struct profile_ctx *c, uint64_t proc_id,
				const char *path)
{
	for (size_t i = 0; i < c->nmods; i++)
		if (c->mods[i].proc_id == proc_id &&
		    !strcmp(c->mods[i].path, path))
			return &c->mods[i];
	if (c->nmods == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 16;
		struct module *m = reallocarray(c->mods, cap, sizeof(*m));

		if (!m)
			return NULL;
		c->mods = m;
		c->cap = cap;
	}
	c->mods[c->nmods] = (struct module){.proc_id = proc_id};
	snprintf(c->mods[c->nmods].path, sizeof(c->mods[c->nmods].path), "%s",
		 path);
	return &c->mods[c->nmods++];
}

/* The value of symbol name in e, or else in the separate debug file of
 * build id `id` (/usr/lib/debug/.build-id/xx/yyyy.debug, as libdw finds
 * it): a library's local functions (glibc's start_thread) are only in
 * its debug file's symbol table, at the same link-time addresses. */
static int symbol_value(struct elffile *e, const char *id, const char *name,
			uint64_t *value)
{
	char path[sizeof("/usr/lib/debug/.build-id//.debug") + MOD_ID_MAX];
	struct elffile *d;
	int err = elffile__symbol(e, name, value);

	if (err != -ENOENT || strlen(id) < 4)
		return err;
	snprintf(path, sizeof(path), "/usr/lib/debug/.build-id/%.2s/%s.debug",
		 id, id + 2);
	if (!(d = elffile__open(path)))
		return -ENOENT;
	err = elffile__symbol(d, name, value);
	elffile__close(d);
	return err;
}

/* Try site's function for m's load bias (see above). */
static void module_resolve(struct module *m, const struct mw_site_row *site)
{
	struct elffile *e;
	uint64_t value, link, bias, start, limit, offset;

	if (m->done || m->tries >= MOD_TRIES || !site->function[0])
		return;
	m->tries++;
	if (!(e = elffile__open(m->path))) {
		m->tries = MOD_TRIES; /* no file: no use trying again */
		return;
	}
	if (elffile__build_id(e, m->build_id, sizeof(m->build_id)))
		m->build_id[0] = '\0';
	if (!symbol_value(e, m->build_id, site->function, &value) &&
	    (link = value + site->offset) <= site->ip &&
	    !((bias = site->ip - link) % PAGE) &&
	    !elffile__segment(e, link, &start, &limit, &offset)) {
		m->start = bias + start;
		m->limit = bias + limit;
		m->offset = offset;
		m->done = true;
	}
	elffile__close(e);
}

/* The location of ip in process proc_id; its site is read from the
 * store the first time only. */
static int frame_location(struct profile_ctx *c, uint64_t proc_id, uint64_t ip,
			  uint64_t *id)
{
	struct pprof_frame fr = {
	    .addr = ip, .module = "", .function = "", .file = ""};
	struct mw_site_row site;
	int err;

	if ((*id = pprof__find_location(c->p, proc_id, ip)))
		return 0;
	err = store__get_site(c->s, proc_id, ip, &site);
	if (err && err != -ENOENT)
		return err;
	if (!err) {
		fr.module = site.module;
		fr.function = site.function;
		fr.file = site.file;
		fr.line = site.line;
		if (site.module[0]) {
			struct module *m = module_of(c, proc_id, site.module);

			if (!m)
				return -ENOMEM;
			module_resolve(m, &site);
			if (m->done) {
				fr.build_id = m->build_id;
				fr.map_start = m->start;
				fr.map_limit = m->limit;
				fr.map_offset = m->offset;
			}
		}
	}
	return pprof__add_location(c->p, proc_id, &fr, id);
}

/* The command name of process proc_id, "" if not stored. */
static const char *proc_comm(struct profile_ctx *c, uint64_t proc_id)
{
	struct mw_process_row r = {0};

	if (c->comm_proc != proc_id) {
		c->comm_proc = proc_id;
		c->comm[0] = '\0';
		if (!store__get_process(c->s, proc_id, &r))
			snprintf(c->comm, sizeof(c->comm), "%s", r.comm);
	}
	return c->comm;
}

static int profile_cb(void *ctx, const struct store_stack_usage *u,
		      const struct mw_stack_row *stack)
{
	struct profile_ctx *c = ctx;
	uint64_t ips[MW_EV_MAX_FRAMES + 1], locs[MW_EV_MAX_FRAMES + 1];
	uint32_t n = 0, i = 0;
	int err;

	/* The leaf is the blocks' site, the one top ranks, so that both
	 * agree even for a stack stored without it (or not stored). That
	 * site is the stack's culprit, past its allocation wrappers: the
	 * wrappers' frames below it are left out, so that pprof's flat
	 * column names the culprit too (explain shows them). */
	ips[n++] = u->site;
	if (stack && stack->nframes) {
		uint32_t c = mw_stack_culprit(stack->flags);

		if (c < stack->nframes && stack->frames[c] == u->site)
			i = c + 1;
		else if (stack->frames[0] == u->site)
			i = 1;
	}
	for (; stack && i < stack->nframes && n < MW_EV_MAX_FRAMES + 1; i++)
		ips[n++] = stack->frames[i];
	for (i = 0; i < n; i++)
		if ((err = frame_location(c, u->proc_id, ips[i], &locs[i])))
			return err;
	return pprof__add_sample(c->p, locs, n, u->blocks, u->bytes, u->pid,
				 proc_comm(c, u->proc_id));
}

int export__profile(struct store *s, const struct store_filter *f,
		    struct pprof *p)
{
	struct profile_ctx c = {.s = s, .p = p};
	int err = store__each_stack_usage(s, f, profile_cb, &c);

	free(c.mods);
	return err;
}

/* --- CSV --------------------------------------------------------------- */

/* The header record, then each row's (rowfmt.c: the fields of --json,
 * the site flattened); a failed write stops the rows with its error. */
static int finding_row(void *ctx, const struct mw_finding_row *r,
		       const struct mw_site_row *site)
{
	rowfmt__csv(ctx, &mw_finding_desc, r, site);
	return outfile__write_error();
}

int export__csv_findings(struct store *s, const struct store_filter *f,
			 FILE *out)
{
	int err;

	rowfmt__csv_header(out, &mw_finding_desc);
	if ((err = outfile__write_error()))
		return err;
	return store__each_finding(s, f, finding_row, out);
}

static int block_row(void *ctx, const struct mw_block_row *r,
		     const struct mw_site_row *site)
{
	rowfmt__csv(ctx, &mw_block_desc, r, site);
	return outfile__write_error();
}

int export__csv_live(struct store *s, const struct store_filter *f, FILE *out)
{
	int err;

	rowfmt__csv_header(out, &mw_block_desc);
	if ((err = outfile__write_error()))
		return err;
	return store__each_block(s, f, block_row, out);
}
