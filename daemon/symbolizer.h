/*
 * symbolizer.h - call sites to module, function+offset and file:line.
 *
 * Sites are symbolized when first flushed, which may be after the process
 * exited. So the symbolizer keeps each traced process's executable
 * mappings, refreshed whenever an address outside them turns up while the
 * process lives (symbolizer__note, on the event path), and resolves later
 * from those files with libdwfl.
 *
 * Everything here is called from the epoll loop and does no network and
 * no DWARF there: a site's source line, and the names only a separate
 * debug file found elsewhere (debuginfod) has, come later from a worker
 * thread (symworker.h). The loop wakes on symbolizer__fd, takes the
 * answers (symbolizer__collect), and writes the sites that waited for
 * them again (symbolizer__rewrite): site rows are upserts.
 */
#ifndef MEMWATCH_SYMBOLIZER_H
#define MEMWATCH_SYMBOLIZER_H

#include <stdbool.h>
#include <stdint.h>

#include "rows.h"

struct symbolizer;

/* Counters of the worker's requests, for the metrics. */
struct symbolizer_stats {
	uint64_t asked;	    /* requests queued */
	uint64_t answered;  /* answers taken back */
	uint64_t dropped;   /* requests not queued: the queue was full */
	uint64_t rewritten; /* site rows handed again with the answer */
};

/* NULL when out of memory or the worker thread cannot start. */
struct symbolizer *symbolizer__new(void);
void symbolizer__free(struct symbolizer *s);
/* Read pid's mappings now: a process just started (held, not yet
 * running), so that a forked child that allocates and exits before its
 * first flush still symbolizes from its parent's files. */
void symbolizer__track(struct symbolizer *s, uint32_t pid);
/* Make sure ip's mapping is known; cheap when it is. */
void symbolizer__note(struct symbolizer *s, uint32_t pid, uint64_t ip);
/* Fill row's strings for ip; fields stay empty where unknown. */
void symbolizer__resolve(struct symbolizer *s, uint32_t pid, uint64_t ip,
			 struct mw_site_row *row);
/* The same from the symbol tables alone (module, function, offset), the
 * worker not asked for the source line: to match suppressions. */
void symbolizer__names(struct symbolizer *s, uint32_t pid, uint64_t ip,
		       struct mw_site_row *row);
/* The program loaded the ELF file path at load bias base, spanning
 * [start, end): known from dlopen, so that it symbolizes even when the
 * module was unloaded before its maps could be read. */
void symbolizer__add_module(struct symbolizer *s, uint32_t pid,
			    const char *path, uint64_t base, uint64_t start,
			    uint64_t end);
/* ip (a return address) is inside glibc itself: libc or ld.so. */
bool symbolizer__in_runtime(struct symbolizer *s, uint32_t pid, uint64_t ip);
/* ip is inside a file the process has mapped, as far as its maps could
 * be read (not once it has exited). */
bool symbolizer__in_file(struct symbolizer *s, uint32_t pid, uint64_t ip);
/* ip is inside the dynamic loader. */
bool symbolizer__is_loader(struct symbolizer *s, uint32_t pid, uint64_t ip);
/* The name of the function that made the call returning to ip, or NULL;
 * valid until the next call into the symbolizer. */
const char *symbolizer__function(struct symbolizer *s, uint32_t pid,
				 uint64_t ip);
/* The same, with that function's size in bytes in *size (0: unknown),
 * which tells a wrapper's few instructions from a function's work, and
 * in *file what identifies the ELF file ip is in (0: none known), also
 * when the function has no name: two frames of one file compare equal. */
const char *symbolizer__symbol(struct symbolizer *s, uint32_t pid,
			       uint64_t ip, uint64_t *size, uintptr_t *file);
void symbolizer__forget(struct symbolizer *s, uint32_t pid);
/* Readable (EPOLLIN) when the worker has answers. */
int symbolizer__fd(const struct symbolizer *s);
/* Take the worker's answers: the sites that waited are then ready to be
 * written again. */
void symbolizer__collect(struct symbolizer *s);
/* Wait up to ms for the worker to answer every request asked (at the
 * end: their sites are written again by the last flush); returns how
 * many are left unanswered. */
int symbolizer__settle(struct symbolizer *s, int ms);
/* Some sites are ready to be written again. */
bool symbolizer__rewrite_waiting(const struct symbolizer *s);
/* Hand each ready site to put; they are let go when every put returned
 * 0, kept for the next call otherwise (that error is returned). */
int symbolizer__rewrite(struct symbolizer *s,
			int (*put)(void *ctx, const struct mw_site_row *row),
			void *ctx);
void symbolizer__get_stats(const struct symbolizer *s,
			   struct symbolizer_stats *out);

#endif
