/*
 * export.c - see export.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>

#include "export.h"
#include "outfile.h"
#include "text.h"

/* --- pprof and folded: live blocks by stack ---------------------------- */

struct profile_ctx {
	struct store *s;
	struct pprof *p;
};

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
	}
	return pprof__add_location(c->p, proc_id, &fr, id);
}

static int profile_cb(void *ctx, const struct store_stack_usage *u,
		      const struct mw_stack_row *stack)
{
	struct profile_ctx *c = ctx;
	uint64_t ips[MW_EV_MAX_FRAMES + 1], locs[MW_EV_MAX_FRAMES + 1];
	uint32_t n = 0, i = 0;
	int err;

	/* The leaf is the blocks' site, the one top ranks, so that both
	 * agree even for a stack stored without it (or not stored). */
	ips[n++] = u->site;
	if (stack && stack->nframes && stack->frames[0] == u->site)
		i = 1;
	for (; stack && i < stack->nframes && n < MW_EV_MAX_FRAMES + 1; i++)
		ips[n++] = stack->frames[i];
	for (i = 0; i < n; i++)
		if ((err = frame_location(c, u->proc_id, ips[i], &locs[i])))
			return err;
	return pprof__add_sample(c->p, locs, n, u->blocks, u->bytes, u->pid);
}

int export__profile(struct store *s, const struct store_filter *f,
		    struct pprof *p)
{
	struct profile_ctx c = {s, p};

	return store__each_stack_usage(s, f, profile_cb, &c);
}

/* --- CSV --------------------------------------------------------------- */

/* A row being written: fields so far, for the separators. */
struct csv {
	FILE *f;
	int n;
};

static void csv_sep(struct csv *c)
{
	if (c->n++)
		fputc(',', c->f);
}

/*
 * A text field, RFC 4180: quoted when it holds a comma, a quote, CR, LF
 * (or any control byte), quotes doubled. Bytes that are not valid UTF-8
 * become U+FFFD, one each, as in the JSON output, and so do control
 * characters other than tab, CR and LF.
 */
static void csv_str(struct csv *c, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	bool quote = false;

	csv_sep(c);
	for (const unsigned char *p = u; *p; p++)
		quote |= *p == ',' || *p == '"' || *p < 0x20 || *p == 0x7f;
	if (quote)
		fputc('"', c->f);
	while (*u) {
		unsigned n = text__utf8_len(u);

		/* Line breaks and tabs stay (quoted); a control character a
		 * terminal acts on (ESC, C1's CSI) must not reach one from
		 * `cat findings.csv`: U+FFFD as well. */
		if (!n || (text__is_control(u, n) && *u != '\t' &&
			   *u != '\r' && *u != '\n')) {
			fputs("\xef\xbf\xbd", c->f);
			u += n ? n : 1;
			continue;
		}
		if (*u == '"')
			fputc('"', c->f);
		fwrite(u, 1, (size_t)n, c->f);
		u += n;
	}
	if (quote)
		fputc('"', c->f);
}

static void csv_u64(struct csv *c, uint64_t v)
{
	csv_sep(c);
	fprintf(c->f, "%" PRIu64, v);
}

/* Addresses as the JSON output writes them: "0x..." */
static void csv_hex(struct csv *c, uint64_t v)
{
	csv_sep(c);
	fprintf(c->f, "0x%" PRIx64, v);
}

/* RFC 4180 ends records with CRLF. */
static int csv_end(struct csv *c)
{
	fputs("\r\n", c->f);
	c->n = 0;
	return outfile__write_error();
}

/* The header row: names need no quoting. */
static int csv_header(struct csv *c, const char *names)
{
	fputs(names, c->f);
	return csv_end(c);
}

/* The site object of the JSON output, flattened. */
#define CSV_SITE_HEAD                                                          \
	"site_ip,site_function,site_offset,site_module,site_file,site_line"

static void csv_site(struct csv *c, uint64_t ip, const struct mw_site_row *site)
{
	csv_hex(c, ip);
	csv_str(c, site ? site->function : "");
	csv_u64(c, site ? site->offset : 0);
	csv_str(c, site ? site->module : "");
	csv_str(c, site ? site->file : "");
	csv_u64(c, site ? site->line : 0);
}

/* The names of json_finding_fields in cmd_findings.c, in its order. */
static const char finding_head[] =
    "id,kind,severity,pid,tid,key,generation,address,size," CSV_SITE_HEAD
    ",stack_id,alloc_tid,alloc_ts,trigger_ts,found_ts,count,bytes,threads,"
    "first_ts,last_ts,detail";

static int finding_row(void *ctx, const struct mw_finding_row *r,
		       const struct mw_site_row *site)
{
	struct csv *c = ctx;

	csv_u64(c, r->id);
	csv_str(c, mw_finding_kind_name(r->kind));
	csv_str(c, mw_severity_name(r->severity));
	csv_u64(c, r->pid);
	csv_u64(c, r->tid);
	csv_u64(c, r->key);
	csv_u64(c, r->generation);
	csv_hex(c, r->addr);
	csv_u64(c, r->size);
	csv_site(c, r->site, site);
	csv_u64(c, r->stack_id);
	csv_u64(c, r->alloc_tid);
	csv_u64(c, r->alloc_ts);
	csv_u64(c, r->trigger_ts);
	csv_u64(c, r->found_ts);
	csv_u64(c, r->count);
	csv_u64(c, r->bytes);
	csv_u64(c, r->threads);
	csv_u64(c, r->first_ts);
	csv_u64(c, r->last_ts);
	csv_str(c, r->detail);
	return csv_end(c);
}

int export__csv_findings(struct store *s, const struct store_filter *f,
			 FILE *out)
{
	struct csv c = {out, 0};
	int err = csv_header(&c, finding_head);

	return err ? err : store__each_finding(s, f, finding_row, &c);
}

/* The names of output__json_block in output.c, in its order. */
static const char block_head[] =
    "serial,pid,tid,address,size,ts," CSV_SITE_HEAD;

static int block_row(void *ctx, const struct mw_block_row *r,
		     const struct mw_site_row *site)
{
	struct csv *c = ctx;

	csv_u64(c, r->serial);
	csv_u64(c, r->pid);
	csv_u64(c, r->tid);
	csv_hex(c, r->addr);
	csv_u64(c, r->size);
	csv_u64(c, r->ts);
	csv_site(c, r->site, site);
	return csv_end(c);
}

int export__csv_live(struct store *s, const struct store_filter *f, FILE *out)
{
	struct csv c = {out, 0};
	int err = csv_header(&c, block_head);

	return err ? err : store__each_block(s, f, block_row, &c);
}
