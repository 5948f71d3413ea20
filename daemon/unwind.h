/*
 * unwind.h - user stacks unwound from a copy of their top with the
 * binaries' call frame information (.eh_frame, .debug_frame), by libdw:
 * the stacks of code built without frame pointers, which the kernel's
 * frame-pointer walk cuts short. As perf --call-graph dwarf does, but
 * paid once per distinct stack: the BPF side keys each stack copy and
 * sends it only the first time (bpf/memwatch.h), and the collector keeps
 * the frames unwound by that key.
 *
 * Each process has a Dwfl of its mappings, read from /proc/PID/maps while
 * it lives, read again when a stack reaches an address outside them.
 */
#ifndef MEMWATCH_UNWIND_H
#define MEMWATCH_UNWIND_H

#include <stdbool.h>
#include <stdint.h>

struct unwinder;

/* The registers at the point the copy was taken, and the copy of the
 * stack from sp. */
struct unwind_regs {
	uint64_t ip, sp, bp, bx, r12, r13, r14, r15;
};

struct unwinder *unwinder__new(void);
void unwinder__free(struct unwinder *u);
/*
 * Unwind the stack of thread tid of process pid from regs and the len
 * bytes copied from regs->sp, into frames (at most max, innermost first:
 * frames[0] = regs->ip, then return addresses). Returns how many, or
 * -errno: -ESRCH when the process's mappings cannot be read (it exited).
 */
int unwinder__stack(struct unwinder *u, uint32_t pid, uint32_t tid,
		    const struct unwind_regs *regs, const void *stack,
		    uint32_t len, uint64_t *frames, uint32_t max);
/* Is addr inside a file of pid's Dwfl (its maps as last read)? */
bool unwinder__in_file(struct unwinder *u, uint32_t pid, uint64_t addr);
/* pid's mappings changed (a module loaded) or it is gone (exit, exec):
 * its Dwfl is read again when next needed. */
void unwinder__forget(struct unwinder *u, uint32_t pid);

#endif
