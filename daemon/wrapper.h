/*
 * wrapper.h - allocation wrappers: the functions that allocate for their
 * caller (xmalloc, zmalloc, g_malloc, os::malloc, operator new, ...), so
 * that the site people are shown is the first frame past them, the
 * culprit.
 *
 * A frame is a wrapper (enum mw_wrap_why, common/rows.h) when its
 * function is on the built-in list of common runtimes (wrapper.c, the
 * one place it is kept), when its name matches a --wrapper regular
 * expression (matched against the symbol as it is and, for C++, as
 * people write it), or automatically, from how the process's stacks fan
 * out above it (docs/RULES.md, "Allocation wrappers"). Wrappers are
 * only ever peeled from the top of a stack: the culprit is the first
 * frame that is not one, never past a frame whose function is unknown,
 * and never the last frame's caller. One exception to the unknown: at
 * most WRAPPER_INNER_MAX frames of unknown functions called by a wrapper
 * (by name) of the same file are that wrapper's own code, a static
 * helper a stripped binary does not name (PostgreSQL's AllocSetAlloc
 * under palloc), and are peeled with it, for the same reason.
 *
 * No OS calls: the symbolizer names the frames, the engine counts the
 * fan-out (engine__stack_fanout); this decides.
 */
#ifndef MEMWATCH_WRAPPER_H
#define MEMWATCH_WRAPPER_H

#include <stddef.h>
#include <stdint.h>

/* Distinct callers above a call site that make it a wrapper
 * automatically, by default; 0 turns automatic wrappers off. */
#define WRAPPER_DEFAULT_CALLERS 8
/* Functions larger than this (bytes of code) are never taken as
 * wrappers automatically: a wrapper is a few instructions around the
 * allocator call. */
#define WRAPPER_AUTO_MAX_CODE 512
/* Frames one automatic wrapper may span: xmalloc calling zmalloc calling
 * malloc is one wrapper of two frames. */
#define WRAPPER_AUTO_CHAIN 2
/* Unnamed frames a named wrapper of the same file may call (wrapper.c,
 * inner_run): palloc -> AllocSetAlloc -> AllocSetAllocLarge is two. */
#define WRAPPER_INNER_MAX 2
/* Characters of a --wrapper expression at most. */
#define WRAPPER_MAX_LEN 256
/* --wrapper expressions at most. */
#define WRAPPER_MAX_USER 32

struct wrappers;

/* One frame as the decision sees it: its function's symbol (NULL when
 * unknown), that function's size in bytes (0 when unknown), and which
 * ELF file it is in (equal for frames of one file; 0 when unknown). */
struct wrap_frame {
	const char *name;
	uint64_t size;
	uintptr_t file;
};

/* min_callers: WRAPPER_DEFAULT_CALLERS, or 0 for no automatic wrappers. */
struct wrappers *wrappers__new(uint32_t min_callers);
void wrappers__free(struct wrappers *w);
/* Add a --wrapper expression (POSIX extended, unanchored). Returns 0, or
 * -EINVAL with why it does not compile in err, -ENOSPC past
 * WRAPPER_MAX_USER, -ENOMEM. */
int wrappers__add(struct wrappers *w, const char *regex, char *err,
		  size_t len);
/* Does regex compile? 0 or -EINVAL with why in err (for the options). */
int wrappers__check(const char *regex, char *err, size_t len);
/* Why the function name is a wrapper by its name: MW_WRAP_BUILTIN,
 * MW_WRAP_USER, or MW_WRAP_NONE. w may be NULL (the built-in list). */
uint32_t wrappers__match(const struct wrappers *w, const char *name);
/*
 * The culprit of a stack of n frames: how many of its top frames are
 * wrappers (at most MW_WRAP_MAX, less than n), why[i] saying why for
 * each. fan[i], i < nfan, is the number of distinct frames[i + 1] seen
 * above frames[0 .. i] (engine__stack_fanout).
 */
uint32_t wrappers__culprit(const struct wrappers *w,
			   const struct wrap_frame *f, uint32_t n,
			   const uint32_t *fan, uint32_t nfan, uint8_t *why);

#endif
