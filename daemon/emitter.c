/*
 * emitter.c - findings as events: the journal's structured fields and JSON
 * lines, written when a flush that opened, changed or resolved a finding
 * commits; see emitter.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "emitter.h"
#include "hash.h"
#include "log.h"
#include "strbuf.h"
#include "text.h"

/* The journal's MESSAGE_ID of a finding's event (journalctl
 * MESSAGE_ID=...), made once for memwatch. */
#define MESSAGE_ID "3294de6cb34443acb787781ea68ffe52"
/* Frames written as the stack at most: what a stack row holds. */
#define STACK_TEXT ((size_t)MW_EV_MAX_FRAMES * (2 * MW_SITE_STR + 32))

/* A finding handed in the flush under way. */
struct staged {
	uint64_t id, proc_id;
	uint32_t severity;
	bool resolved, suppressed;
};

/* A finding an "opened" event was written for, until it resolves or its
 * process is let go: what it was. */
struct seen {
	uint64_t proc_id;
	uint32_t severity;
};

struct emitter {
	int fd;	      /* JSON lines; -1: none */
	bool own_fd;  /* opened here (not standard output) */
	bool journal; /* sd_journal_send */
	struct hmap seen;
	struct staged *staged;
	size_t nstaged, cap;
	int write_err; /* the last error writing fd, logged once */
};

struct emitter *emitter__new(const char *json_path, bool journal)
{
	struct emitter *ev = calloc(1, sizeof(*ev));

	if (!ev)
		return NULL;
	ev->fd = -1;
	ev->journal = journal;
	hmap__init(&ev->seen);
	if (json_path && !strcmp(json_path, "-")) {
		ev->fd = STDOUT_FILENO;
	} else if (json_path) {
		ev->fd = open(json_path,
			      O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
				  O_NOCTTY,
			      0640);
		if (ev->fd < 0) {
			int err = errno;

			free(ev);
			errno = err;
			return NULL;
		}
		ev->own_fd = true;
	}
	return ev;
}

void emitter__free(struct emitter *ev)
{
	size_t pos = 0;
	uint64_t k;
	void *v;

	if (!ev)
		return;
	while (hmap__next(&ev->seen, &pos, &k, &v))
		free(v);
	hmap__fini(&ev->seen);
	if (ev->own_fd)
		close(ev->fd);
	free(ev->staged);
	free(ev);
}

void emitter__flush_begin(struct emitter *ev)
{
	if (ev)
		ev->nstaged = 0;
}

void emitter__finding(struct emitter *ev, const struct mw_finding_row *r)
{
	if (!ev)
		return;
	if (ev->nstaged == ev->cap) {
		size_t cap = ev->cap ? 2 * ev->cap : 64;
		struct staged *p = realloc(ev->staged, cap * sizeof(*p));

		if (!p)
			return; /* an event lost, never a wrong one */
		ev->staged = p;
		ev->cap = cap;
	}
	ev->staged[ev->nstaged++] = (struct staged){
	    .id = r->id,
	    .proc_id = r->proc_id,
	    .severity = r->severity,
	    .resolved = r->resolved_ts != 0,
	    .suppressed = r->suppressed[0] != '\0',
	};
}

/* --- what an event says ------------------------------------------------ */

/* A site as memwatchctl shows it: function+0xOFF (file:line), or the
 * module, or the address. Made safe. */
static void site_text(char *buf, size_t len, uint64_t ip,
		      const struct mw_site_row *s)
{
	char raw[4 * MW_SITE_STR];

	if (s && s->function[0] && s->file[0])
		snprintf(raw, sizeof(raw), "%s+0x%" PRIx64 " (%s:%u)",
			 s->function, s->offset, text__base_name(s->file),
			 s->line);
	else if (s && s->function[0] && s->module[0])
		snprintf(raw, sizeof(raw), "%s+0x%" PRIx64 " (%s)", s->function,
			 s->offset, text__base_name(s->module));
	else if (s && s->module[0])
		snprintf(raw, sizeof(raw), "0x%" PRIx64 " (%s)", ip,
			 text__base_name(s->module));
	else
		snprintf(raw, sizeof(raw), "0x%" PRIx64, ip);
	text__safe(buf, len, raw);
}

/* Everything one event says, read back from the database. */
struct event {
	const char *what; /* opened, updated, resolved */
	uint32_t prev;	  /* updated: the severity before; 0 */
	uint64_t ts;	  /* when */
	struct mw_finding_row f;
	struct mw_site_row site;
	bool has_site;
	struct mw_process_row proc;
	bool has_proc;
	char site_text[4 * MW_SITE_STR];
	char unit[MW_CGROUP_MAX];
	char *stack; /* one frame a line, as site_text; NULL: none */
};

static int copy_finding(void *ctx, const struct mw_finding_row *r,
			const struct mw_site_row *site)
{
	struct event *e = ctx;

	e->f = *r;
	e->has_site = site != NULL;
	if (site)
		e->site = *site;
	return 1;
}

/* The stack as text, "#N site" a line; NULL when not recorded. */
static char *stack_text(struct store *st, const struct mw_finding_row *f)
{
	struct mw_stack_row s;
	char *out, line[4 * MW_SITE_STR + 16];
	size_t used = 0;

	if (!f->stack_id || store__get_stack(st, f->stack_id, &s))
		return NULL;
	out = malloc(STACK_TEXT);
	if (!out)
		return NULL;
	out[0] = '\0';
	for (uint32_t i = 0; i < s.nframes && i < MW_EV_MAX_FRAMES; i++) {
		struct mw_site_row fs;
		int have = !store__get_site(st, s.proc_id, s.frames[i], &fs);
		char where[4 * MW_SITE_STR];
		int n;

		site_text(where, sizeof(where), s.frames[i], have ? &fs : NULL);
		n = snprintf(line, sizeof(line), "%s#%u %s", i ? "\n" : "", i,
			     where);
		if (n < 0 || used + (size_t)n >= STACK_TEXT)
			break;
		memcpy(out + used, line, (size_t)n + 1);
		used += (size_t)n;
	}
	return out;
}

static int read_event(struct event *e, struct store *st, uint64_t id)
{
	struct store_filter one = {.id = id};

	if (store__each_finding(st, &one, copy_finding, e) != 1)
		return -ENOENT;
	e->has_proc = !store__get_process(st, e->f.proc_id, &e->proc);
	site_text(e->site_text, sizeof(e->site_text), e->f.site,
		  e->has_site ? &e->site : NULL);
	text__cgroup_unit(e->has_proc ? e->proc.cgroup : "", e->unit,
			  sizeof(e->unit));
	e->stack = stack_text(st, &e->f);
	e->ts = !strcmp(e->what, "resolved") ? e->f.resolved_ts
		: !strcmp(e->what, "opened") ? e->f.found_ts
					     : e->f.last_ts;
	return 0;
}

/* --- the journal ------------------------------------------------------- */

static void to_journal(const struct event *e)
{
	char comm[4 * MW_COMM_MAX];
	int prio = !strcmp(e->what, "resolved")	 ? LOG_INFO
		   : e->f.severity == MW_SEV_HIGH ? LOG_WARNING
						  : LOG_NOTICE;

	text__safe(comm, sizeof(comm), e->has_proc ? e->proc.comm : "");
	/* Each field one value: the stack's newlines are the journal's
	 * to keep (sd_journal_send writes such a value binary-safe). */
	sd_journal_send(
	    "MESSAGE=finding %" PRIu64 " %s: %s, severity %s, pid %u (%s), "
	    "%" PRIu64 " bytes in %" PRIu64 " block(s) at %s",
	    e->f.id, e->what, mw_finding_kind_name(e->f.kind),
	    mw_severity_name(e->f.severity), e->f.pid, comm, e->f.bytes,
	    e->f.count, e->site_text,
	    "PRIORITY=%d", prio, "MESSAGE_ID=" MESSAGE_ID,
	    "MEMWATCH_EVENT=%s", e->what, "MEMWATCH_FINDING_ID=%" PRIu64,
	    e->f.id, "MEMWATCH_KIND=%s", mw_finding_kind_name(e->f.kind),
	    "MEMWATCH_SEVERITY=%s", mw_severity_name(e->f.severity),
	    "MEMWATCH_PREVIOUS_SEVERITY=%s",
	    e->prev ? mw_severity_name(e->prev) : "",
	    "MEMWATCH_STATE=%s", mw_finding_state(&e->f), "MEMWATCH_PID=%u",
	    e->f.pid, "MEMWATCH_COMM=%s", comm, "MEMWATCH_UNIT=%s", e->unit,
	    "MEMWATCH_SITE=%s", e->site_text, "MEMWATCH_BYTES=%" PRIu64,
	    e->f.bytes, "MEMWATCH_COUNT=%" PRIu64, e->f.count,
	    "MEMWATCH_STACK=%s", e->stack ? e->stack : "",
	    "MEMWATCH_TIMESTAMP=%" PRIu64, e->ts, NULL);
}

/* --- JSON lines -------------------------------------------------------- */

/* A JSON string of s, made safe first (text.h): no control character
 * but those escaped here, valid UTF-8. */
static void json_str(struct strbuf *b, const char *s)
{
	char safe[4 * MW_SITE_STR];

	text__safe(safe, sizeof(safe), s);
	strbuf__printf(b, "\"");
	for (const char *p = safe; *p; p++) {
		if (*p == '"' || *p == '\\')
			strbuf__printf(b, "\\%c", *p);
		else
			strbuf__printf(b, "%c", *p);
	}
	strbuf__printf(b, "\"");
}

/* RFC 3339 in UTC with nanoseconds: a time every log shipper parses
 * (the integer, above 2^53, some JSON parsers round). */
static void json_time(struct strbuf *b, uint64_t ns)
{
	time_t secs = (time_t)(ns / 1000000000ull);
	struct tm tm;
	char day[32];

	if (!gmtime_r(&secs, &tm) ||
	    !strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm))
		snprintf(day, sizeof(day), "1970-01-01T00:00:00");
	strbuf__printf(b, "\"%s.%09lluZ\"", day,
		       (unsigned long long)(ns % 1000000000ull));
}

static void json_line(const struct event *e, struct strbuf *b)
{
	const struct mw_site_row *s = e->has_site ? &e->site : NULL;

	strbuf__printf(b, "{\"event\":\"%s\",\"time\":", e->what);
	json_time(b, e->ts);
	strbuf__printf(b, ",\"ts\":\"%" PRIu64 "\",\"id\":%" PRIu64, e->ts,
		       e->f.id);
	strbuf__printf(b, ",\"kind\":\"%s\",\"severity\":\"%s\"",
		       mw_finding_kind_name(e->f.kind),
		       mw_severity_name(e->f.severity));
	if (e->prev)
		strbuf__printf(b, ",\"previous_severity\":\"%s\"",
			       mw_severity_name(e->prev));
	else
		strbuf__printf(b, ",\"previous_severity\":null");
	strbuf__printf(b, ",\"state\":\"%s\",\"pid\":%u,\"comm\":",
		       mw_finding_state(&e->f), e->f.pid);
	json_str(b, e->has_proc ? e->proc.comm : "");
	strbuf__printf(b, ",\"unit\":");
	json_str(b, e->unit);
	strbuf__printf(b, ",\"cgroup\":");
	json_str(b, e->has_proc ? e->proc.cgroup : "");
	strbuf__printf(b,
		       ",\"bytes\":%" PRIu64 ",\"count\":%" PRIu64
		       ",\"threads\":%u,\"site\":",
		       e->f.bytes, e->f.count, e->f.threads);
	json_str(b, e->site_text);
	strbuf__printf(b, ",\"function\":");
	json_str(b, s ? s->function : "");
	strbuf__printf(b, ",\"module\":");
	json_str(b, s ? s->module : "");
	strbuf__printf(b, ",\"file\":");
	json_str(b, s ? s->file : "");
	strbuf__printf(b, ",\"line\":%u,\"detail\":", s ? s->line : 0);
	json_str(b, e->f.detail);
	strbuf__printf(b, ",\"resolved_reason\":");
	json_str(b, e->f.resolved_reason);
	strbuf__printf(b, ",\"ack_note\":");
	json_str(b, e->f.ack_note);
	strbuf__printf(b, ",\"stack\":[");
	for (const char *p = e->stack; p && *p;) {
		size_t n = strcspn(p, "\n");
		char frame[4 * MW_SITE_STR];

		snprintf(frame, sizeof(frame), "%.*s", (int)n, p);
		if (p != e->stack)
			strbuf__printf(b, ",");
		json_str(b, frame);
		p += n;
		p += *p == '\n';
	}
	strbuf__printf(b, "]}\n");
}

static void to_json(struct emitter *ev, const struct event *e)
{
	struct strbuf b = {0};
	size_t off = 0;
	int err = 0;

	json_line(e, &b);
	if (b.oom)
		err = -ENOMEM;
	/* One write a line where it fits (a pipe takes PIPE_BUF whole):
	 * readers never see two events' bytes mixed. */
	while (!err && off < b.len) {
		ssize_t n = write(ev->fd, b.p + off, b.len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			err = -errno;
		else
			off += (size_t)n;
	}
	free(b.p);
	if (err && err != ev->write_err)
		log_warnx("events: cannot write a JSON line: %s",
			  strerror(-err));
	else if (!err && ev->write_err)
		log_info("events: writing JSON lines again");
	ev->write_err = err;
}

static void emit(struct emitter *ev, struct store *st, const char *what,
		 uint64_t id, uint32_t prev)
{
	struct event e = {.what = what, .prev = prev};

	if (read_event(&e, st, id))
		return;
	if (ev->journal)
		to_journal(&e);
	if (ev->fd >= 0)
		to_json(ev, &e);
	free(e.stack);
}

/* --- what changed ------------------------------------------------------ */

static int note_proc(void *ctx, const struct engine_proc_view *pv)
{
	/* proc ids are serials, never 0: a valid key */
	hmap__put(ctx, pv->row->id, (void *)1);
	return 0;
}

/* Forget the findings of processes the engine let go: never handed
 * again. */
static void forget_gone(struct emitter *ev, const struct engine *e)
{
	struct hmap live;
	struct vec gone = {0};
	size_t pos = 0;
	uint64_t k;
	void *v;

	if (!ev->seen.len)
		return;
	hmap__init(&live);
	engine__each_process(e, note_proc, &live);
	while (hmap__next(&ev->seen, &pos, &k, &v))
		if (!hmap__get(&live, ((struct seen *)v)->proc_id))
			vec__push(&gone, (void *)(uintptr_t)k);
	for (size_t i = 0; i < gone.len; i++)
		free(hmap__del(&ev->seen, (uint64_t)(uintptr_t)gone.items[i]));
	vec__fini(&gone);
	hmap__fini(&live);
}

void emitter__flush_end(struct emitter *ev, int err, const struct engine *e,
		       struct store *st)
{
	if (!ev || err)
		return;
	for (size_t i = 0; i < ev->nstaged; i++) {
		const struct staged *f = &ev->staged[i];
		struct seen *s = hmap__get(&ev->seen, f->id);

		if (f->resolved) {
			if (!s && f->suppressed)
				continue;
			if (!s) /* made and resolved within one flush */
				emit(ev, st, "opened", f->id, 0);
			emit(ev, st, "resolved", f->id, 0);
			free(hmap__del(&ev->seen, f->id));
			continue;
		}
		if (s) {
			if (s->severity != f->severity)
				emit(ev, st, "updated", f->id, s->severity);
			s->severity = f->severity;
			continue;
		}
		if (f->suppressed)
			continue;
		s = malloc(sizeof(*s));
		if (!s || hmap__put(&ev->seen, f->id, s)) {
			free(s); /* its later events are lost, not wrong */
			s = NULL;
		}
		if (s)
			*s = (struct seen){f->proc_id, f->severity};
		emit(ev, st, "opened", f->id, 0);
	}
	ev->nstaged = 0;
	forget_gone(ev, e);
}
