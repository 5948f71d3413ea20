/*
 * metrics_http.c - the HTTP server of memwatchd's Prometheus export; see
 * metrics_http.h.
 *
 * Each scrape renders the whole page into one growable buffer, handed to
 * libmicrohttpd, which frees it once sent, so nothing outlives a scrape.
 */
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "listen.h"
#include "log.h"
#include "metrics_http.h"

/* Scrapers are few; a slow or stuck one is dropped after this. */
#define MAX_CONNECTIONS 16
#define CONNECTION_TIMEOUT_S 10

struct metrics_http {
	struct MHD_Daemon *mhd;
	int epfd;
	metrics_http_page page;
	void *ctx;
};

static const char index_page[] =
    "<html><head><title>memwatchd</title></head><body>\n"
    "<h1>memwatchd</h1><p><a href=\"/metrics\">Metrics</a></p>\n"
    "</body></html>\n";

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status,
			       const char *type, void *body, size_t len,
			       enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	if (type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_http(void *cls, struct MHD_Connection *c,
			       const char *url, const char *method,
			       const char *version, const char *upload_data,
			       size_t *upload_size, void **con_cls)
{
	static const char text[] = "text/plain; charset=utf-8";
	static char not_found[] = "not found: try /metrics\n";
	static char bad_method[] = "only GET and HEAD\n";
	static char no_memory[] = "out of memory\n";
	struct metrics_http *h = cls;
	struct strbuf b = {0};

	if (strcmp(method, MHD_HTTP_METHOD_GET) &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD))
		return respond(c, MHD_HTTP_METHOD_NOT_ALLOWED, text, bad_method,
			       sizeof(bad_method) - 1, MHD_RESPMEM_PERSISTENT);
	if (!strcmp(url, "/"))
		return respond(c, MHD_HTTP_OK, "text/html; charset=utf-8",
			       (void *)index_page, sizeof(index_page) - 1,
			       MHD_RESPMEM_PERSISTENT);
	if (strcmp(url, "/metrics"))
		return respond(c, MHD_HTTP_NOT_FOUND, text, not_found,
			       sizeof(not_found) - 1, MHD_RESPMEM_PERSISTENT);
	h->page(h->ctx, &b);
	if (b.oom) {
		free(b.p);
		log_warnx("metrics: out of memory rendering the page");
		return respond(c, MHD_HTTP_INTERNAL_SERVER_ERROR, text,
			       no_memory, sizeof(no_memory) - 1,
			       MHD_RESPMEM_PERSISTENT);
	}
	/* MHD frees the page once it is sent, or when the client goes. */
	return respond(c, MHD_HTTP_OK,
		       "text/plain; version=0.0.4; charset=utf-8", b.p, b.len,
		       MHD_RESPMEM_MUST_FREE);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_debug("metrics: %s", msg);
}

/* A listening TCP socket on addr, or -errno. */
static int listen_on(const struct sockaddr_storage *ss, socklen_t len)
{
	int one = 1, fd, err;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (ss->ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    bind(fd, (const struct sockaddr *)ss, len) || listen(fd, 64)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

struct metrics_http *metrics_http__new(const char *listen,
				       metrics_http_page page, void *ctx)
{
	struct metrics_http *h = calloc(1, sizeof(*h));
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
	socklen_t len;
	int fd, err;

	if (!h)
		return NULL;
	h->epfd = -1;
	h->page = page;
	h->ctx = ctx;
	if (listen__parse(listen, &ss, &len)) {
		err = -EINVAL;
		goto fail;
	}
	fd = listen_on(&ss, len);
	if (fd < 0) {
		err = fd;
		goto fail;
	}
	/* No thread of its own: MHD_USE_EPOLL without an internal polling
	 * thread is driven by MHD_run from the daemon's loop. */
	h->mhd = MHD_start_daemon(
	    MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
		(ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
	    0, NULL, NULL, on_http, h, MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, MHD_OPTION_END);
	if (!h->mhd) {
		close(fd);
		err = -EIO;
		goto fail;
	}
	info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info || info->epoll_fd < 0) {
		err = -EIO;
		goto fail;
	}
	h->epfd = info->epoll_fd;
	return h;
fail:
	metrics_http__free(h);
	errno = -err;
	return NULL;
}

void metrics_http__free(struct metrics_http *h)
{
	if (!h)
		return;
	if (h->mhd)
		MHD_stop_daemon(h->mhd);
	free(h);
}

int metrics_http__fd(const struct metrics_http *h)
{
	return h->epfd;
}

void metrics_http__serve(struct metrics_http *h)
{
	MHD_UNSIGNED_LONG_LONG timeout;

	/* With edge-triggered sockets MHD may have work left that no fd
	 * will announce (a response ready to send): it says so with a zero
	 * timeout. A few rounds finish a scrape; the timer does the rest. */
	for (int i = 0; i < 8; i++) {
		MHD_run(h->mhd);
		if (MHD_get_timeout(h->mhd, &timeout) != MHD_YES || timeout)
			break;
	}
}
