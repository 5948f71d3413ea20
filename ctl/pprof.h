/*
 * pprof.h - an in-memory profile of live heap memory by allocating stack,
 * and its two encodings: pprof's profile.proto, gzip-compressed, as
 * `go tool pprof` reads it, and folded stacks ("root;...;leaf bytes"),
 * as flamegraph.pl and speedscope read them.
 *
 * The profile knows nothing of the store: the caller adds locations (one
 * return address of one process, with what is known of its symbol) and
 * samples (a stack of location ids, innermost first, with the objects and
 * bytes it holds). Each sample has the values [inuse_objects count,
 * inuse_space bytes]; inuse_space is the default.
 *
 * Errors are negative errnos: -ENOMEM, or what writing the file gave.
 */
#ifndef MEMWATCH_PPROF_H
#define MEMWATCH_PPROF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct pprof;

/* What is known of one return address. Strings are copied; "" and 0 are
 * unknown. A location without a function has no line: pprof shows its
 * address (and module). The module's mapping as the process had it
 * (map_*: where its code segment was loaded, from which file offset)
 * and its build id, when known, let profile readers symbolize the
 * address again from the file; without them the mapping spans the
 * module's locations from offset 0. */
struct pprof_frame {
	uint64_t addr;
	const char *module;   /* path of the executable or library */
	const char *function; /* symbol as the binary has it */
	const char *file;     /* source file */
	uint32_t line;
	const char *build_id; /* the module's GNU build id, hex */
	uint64_t map_start, map_limit, map_offset; /* map_limit 0: unknown */
};

/* time_ns: when the profile was taken (ns since the Unix epoch).
 * NULL and errno ENOMEM when out of memory. */
struct pprof *pprof__new(uint64_t time_ns);
void pprof__free(struct pprof *p);

/* The id of the location of addr in address space `space` (a process),
 * 0 when not added yet: lets the caller look a symbol up only once. */
uint64_t pprof__find_location(const struct pprof *p, uint64_t space,
			      uint64_t addr);
/* Add that location (or find it), its function and its module's
 * mapping; *id is its id. */
int pprof__add_location(struct pprof *p, uint64_t space,
			const struct pprof_frame *fr, uint64_t *id);

/* One sample: n location ids, innermost (the allocation site) first,
 * labelled with the pid (a number label, "pid") and the command name
 * (a string label, "comm", unless comm is NULL or ""). */
int pprof__add_sample(struct pprof *p, const uint64_t *locs, uint32_t n,
		      uint64_t objects, uint64_t bytes, uint32_t pid,
		      const char *comm);

/* The profile as gzip-compressed profile.proto. Does not flush f. */
int pprof__write(const struct pprof *p, FILE *f);

/*
 * Folded stacks: one line per distinct stack of frame names, outermost
 * first, and the bytes it holds. pretty (may be NULL) turns a symbol into
 * the name shown (a C++ demangler), in buf of len bytes or as it is.
 */
int pprof__write_folded(const struct pprof *p, FILE *f,
			const char *(*pretty)(const char *name, char *buf,
					      size_t len));

#endif
