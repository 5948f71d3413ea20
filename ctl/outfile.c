/*
 * export.c - see export.h.
 *
 * The output is written through a stdio cookie stream over its
 * descriptor, so that the errno of a failed write (ENOSPC, EFBIG, EIO)
 * is kept for the error message whichever writer hit it (the JSON
 * writer does not check its writes) and however stdio buffered it.
 *
 * On Windows (mingw's C runtime has no fopencookie) it is a plain binary
 * stream, whose failed write says EIO unless the runtime set an errno;
 * the temporary file replaces the target with MoveFileEx, as rename
 * does not replace an existing file there.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef _WIN32
#include <windows.h>
#endif

#include "export.h"
#include "json.h"
#include "text.h"

/* --- the output file --------------------------------------------------- */

/*
 * The one output. tmp is "" unless a temporary file exists: the signal
 * handler reads it, so it is set before the file is created and cleared
 * only after the file is renamed or removed.
 */
static struct {
	FILE *f;
	int fd;
	int werr;	/* errno of the first failed write, or 0 */
	bool is_stdout; /* fd 1: never closed */
	bool direct;	/* stdout, a device, a fifo: no temporary file */
	bool hooked;	/* atexit and signal handlers installed */
	char path[PATH_MAX];
	char tmp[PATH_MAX];
} out = {.fd = -1};

static void remove_tmp(void)
{
	if (out.tmp[0])
		unlink(out.tmp);
}

static void on_signal(int sig)
{
	remove_tmp();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void hook(void)
{
#ifdef _WIN32
	if (out.hooked)
		return;
	out.hooked = true;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
#else
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
	struct sigaction sa;

	if (out.hooked)
		return;
	out.hooked = true;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
#endif
	atexit(export__abort);
}

#ifdef _WIN32
/* A stdio stream over out.fd, in binary mode (pprof is binary, and the
 * text formats keep the same bytes on both systems); stdout itself for
 * fd 1, which fclose must not close. */
static FILE *out_stream(void)
{
	FILE *f;

	_setmode(out.fd, _O_BINARY);
	if (out.is_stdout)
		return stdout;
	f = _fdopen(out.fd, "wb");
	return f;
}

/* Close the stream; for stdout, flush it only. */
static int out_close(FILE *f)
{
	int rc = out.is_stdout ? fflush(f) : fclose(f);

	out.fd = -1;
	return rc;
}

/* A unique file from template tmp (XXXXXX at its end), 0600 where modes
 * mean something, not inherited by children. */
static int out_mkstemp(char *tmp)
{
	int e = _mktemp_s(tmp, strlen(tmp) + 1);

	if (e) {
		errno = e;
		return -1;
	}
	return _open(tmp, _O_RDWR | _O_CREAT | _O_EXCL | _O_BINARY |
			      _O_NOINHERIT,
		     _S_IREAD | _S_IWRITE);
}

static int out_rename(const char *from, const char *to)
{
	if (MoveFileExA(from, to,
			MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
		return 0;
	errno = GetLastError() == ERROR_ACCESS_DENIED ? EACCES : EIO;
	return -1;
}
#else

/* fopencookie's write: all of it or an error; 0 on error, as the
 * interface wants, with the errno kept. */
static ssize_t cookie_write(void *cookie, const char *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t w = write(out.fd, buf + done, n - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (!out.werr)
				out.werr = w < 0 ? errno : EIO;
			return (ssize_t)done;
		}
		done += (size_t)w;
	}
	return (ssize_t)n;
}

static int cookie_close(void *cookie)
{
	int rc = out.is_stdout ? 0 : close(out.fd);

	out.fd = -1;
	return rc;
}

/* A stdio stream over out.fd that keeps the errno of a failed write. */
static FILE *out_stream(void)
{
	cookie_io_functions_t io;

	memset(&io, 0, sizeof(io));
	io.write = cookie_write;
	io.close = cookie_close;
	return fopencookie(NULL, "w", io);
}

static int out_close(FILE *f)
{
	return fclose(f);
}

static int out_mkstemp(char *tmp)
{
	return mkostemp(tmp, O_CLOEXEC);
}

static int out_rename(const char *from, const char *to)
{
	return rename(from, to);
}
#endif

/* The directory part of path ends after its last separator: '/', and on
 * Windows '\\' too. */
static const char *last_sep(const char *path)
{
	const char *slash = strrchr(path, '/');
#ifdef _WIN32
	const char *back = strrchr(path, '\\');

	if (back && (!slash || back > slash))
		slash = back;
#endif
	return slash;
}

/* Write fd itself, no temporary file. */
static int open_direct(int fd, bool is_stdout, FILE **f)
{
	int err;

	out.fd = fd;
	out.is_stdout = is_stdout;
	out.direct = true;
	out.f = out_stream();
	if (!out.f) {
		err = -errno;
		if (!is_stdout)
			close(fd);
		out.fd = -1;
		return err;
	}
	*f = out.f;
	return 0;
}

int export__open(const char *path, FILE **f)
{
	const char *slash;
	struct stat st;
	mode_t mask;
	int n, err;

	out.werr = 0;
	if (!path || !strcmp(path, "-"))
		return open_direct(STDOUT_FILENO, true, f);
	if (!stat(path, &st)) {
		if (S_ISDIR(st.st_mode))
			return -EISDIR;
		/* A device or a fifo (/dev/null, a pipe to a viewer) is
		 * written to: a rename would replace it by a file, and
		 * it holds no file to leave half-written. */
		if (!S_ISREG(st.st_mode)) {
			int fd = open(path, O_WRONLY | O_CLOEXEC);

			return fd < 0 ? -errno : open_direct(fd, false, f);
		}
	} else if (errno != ENOENT) {
		return -errno;
	}
	slash = last_sep(path);
	if (slash && !slash[1])
		return -EISDIR;
	n = slash ? (int)(slash - path + 1) : 0;
	if (strlen(path) + 16 > sizeof(out.tmp))
		return -ENAMETOOLONG;
	snprintf(out.path, sizeof(out.path), "%s", path);
	hook();
	/* Next to the target, so that the rename stays in one file
	 * system; hidden, named after it. */
	snprintf(out.tmp, sizeof(out.tmp), "%.*s.%s.XXXXXX", n, path, path + n);
	out.fd = out_mkstemp(out.tmp);
	if (out.fd < 0) {
		err = -errno;
		out.tmp[0] = '\0';
		return err;
	}
	/* mkostemp makes it 0600; a file is created 0666 less the umask.
	 * (On Windows, the directory's ACL says who may read it.) */
	mask = umask(0);
	umask(mask);
#ifdef _WIN32
	(void)mask;
	if (!(out.f = out_stream())) {
#else
	if (fchmod(out.fd, 0666 & ~mask) || !(out.f = out_stream())) {
#endif
		err = -errno;
		close(out.fd);
		out.fd = -1;
		remove_tmp();
		out.tmp[0] = '\0';
		return err;
	}
	*f = out.f;
	return 0;
}

/* The error writing gave so far: the kept errno, else EIO if the stream
 * says one happened. */
static int write_error(FILE *f)
{
	if (out.werr)
		return -out.werr;
	return f && ferror(f) ? -EIO : 0;
}

int export__write_error(void)
{
	return write_error(out.f);
}

int export__commit(void)
{
	int err;

	if (!out.f)
		return 0;
	fflush(out.f);
	err = write_error(out.f);
	/* Durable before it takes the target's name. */
	if (!err && !out.direct && fsync(out.fd))
		err = -errno;
	if (out_close(out.f) && !err)
		err = out.werr ? -out.werr : -errno;
	out.f = NULL;
	if (out.direct)
		return err;
	if (!err && out_rename(out.tmp, out.path))
		err = -errno;
	if (err)
		remove_tmp();
	out.tmp[0] = '\0';
	return err;
}

void export__abort(void)
{
	FILE *f = out.f;

	if (!f)
		return;
	out.f = NULL;
	/* Closed first: Windows does not remove an open file. */
	out_close(f);
	remove_tmp();
	out.tmp[0] = '\0';
}

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
	return write_error(c->f);
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
