/*
 * metrics_http.h - the HTTP server of memwatchd's Prometheus export
 * (libmicrohttpd): "/" an index, "/metrics" the page, rendered afresh at
 * each scrape by the callback it was given.
 *
 * It has no thread of its own: its epoll fd joins the daemon's one epoll
 * loop, and metrics_http__serve runs it there, so the page is rendered
 * from the thread that feeds the engine, without locks.
 */
#ifndef MEMWATCH_METRICS_HTTP_H
#define MEMWATCH_METRICS_HTTP_H

#include "strbuf.h"

struct metrics_http;

/* Render the whole page into b (empty); b->oom says it failed. */
typedef void (*metrics_http_page)(void *ctx, struct strbuf *b);

/* Listen on listen (ADDR:PORT, listen.h) and serve page(ctx) there. NULL
 * and errno set on failure (EINVAL: not an address). */
struct metrics_http *metrics_http__new(const char *listen,
				       metrics_http_page page, void *ctx);
/* Accepts NULL. */
void metrics_http__free(struct metrics_http *h);
/* The fd to watch for input in the daemon's epoll loop. */
int metrics_http__fd(const struct metrics_http *h);
/* Answer what the clients sent; call on input on metrics_http__fd and at
 * every timer tick (connection timeouts). */
void metrics_http__serve(struct metrics_http *h);

#endif
