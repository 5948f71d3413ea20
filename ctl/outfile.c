/*
 * outfile.c - see outfile.h.
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
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef _WIN32
#include <windows.h>
#endif

#include "outfile.h"

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
	atexit(outfile__abort);
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

int outfile__rename(const char *from, const char *to)
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

int outfile__rename(const char *from, const char *to)
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

int outfile__open(const char *path, FILE **f)
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

int outfile__write_error(void)
{
	return write_error(out.f);
}

int outfile__commit(void)
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
	if (!err && outfile__rename(out.tmp, out.path))
		err = -errno;
	if (err)
		remove_tmp();
	out.tmp[0] = '\0';
	return err;
}

void outfile__abort(void)
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
