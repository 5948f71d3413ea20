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
/*
 * How to go from a frame at ip to its caller, as the BPF side walks
 * (bpf/memwatch.h, struct mw_cfa_rule): the CFA is sp or rbp plus off,
 * the return address is at CFA - 8, the caller's rbp at CFA + bp_off
 * (0: unchanged); or the frame is the outermost.
 */
enum { UNWIND_RULE_SP = 1, UNWIND_RULE_BP = 2, UNWIND_RULE_END = 3 };

struct unwind_rule {
	uint32_t kind;
	int32_t off, bp_off;
};

/*
 * The rule of ip in pid's mappings as its last unwind read them, from the
 * CFI that unwind used; innermost: ip is where the thread resumes (the
 * call site a return probe stopped at), else a return address. Returns 0,
 * or -ENOENT when the CFI there is more than such a rule says (another
 * register's CFA, an expression, a signal frame) or there is none.
 */
int unwinder__rule(struct unwinder *u, uint32_t pid, uint64_t ip,
		   bool innermost, struct unwind_rule *out);
/* Is addr inside a file of pid's Dwfl (its maps as last read)? */
bool unwinder__in_file(struct unwinder *u, uint32_t pid, uint64_t addr);
/* pid's mappings changed (a module loaded) or it is gone (exit, exec):
 * its Dwfl is read again when next needed. */
void unwinder__forget(struct unwinder *u, uint32_t pid);

#endif
