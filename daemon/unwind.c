/*
 * unwind.c - see unwind.h.
 *
 * libdwfl unwinds a thread through Dwfl_Thread_Callbacks: the initial
 * registers (the return probe's ip, sp and the callee-saved ones:
 * x86-64 DWARF registers 16, 7, 6, 3, 12 to 15) and the memory the unwinder reads, which is the stack copy and
 * nothing else (the thread has moved on since). A read outside the copy
 * fails, and the stack ends there: a shorter stack, never a wrong one.
 *
 * One Dwfl per process, its modules reported from /proc/PID/maps. The
 * state being unwound (regs and copy) is the process's for the length of
 * one unwinder__stack call: the loop is single-threaded.
 */
#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hash.h"
#include "unwind.h"

/* x86-64 DWARF register numbers. */
#define DWREG_RBX 3
#define DWREG_RBP 6
#define DWREG_R12 12
#define DWREG_RSP 7
#define DWREG_RA 16

struct uproc {
	uint32_t pid;
	Dwfl *dwfl; /* NULL: not read (yet), or not readable */
	bool failed; /* its maps could not be read: do not retry */
	uint64_t opened_ns; /* when its maps were read (CLOCK_MONOTONIC) */
	uint64_t born_ns;   /* when it was first unwound */
	/* The unwind in progress. */
	uint32_t tid;
	const struct unwind_regs *regs;
	const unsigned char *stack;
	uint32_t len;
	uint64_t *frames;
	uint32_t n, max;
	bool nofile; /* it stopped at a return into no file */
};

struct unwinder {
	struct hmap procs; /* pid -> struct uproc */
};

static char *debuginfo_path;

static const Dwfl_Callbacks proc_callbacks = {
	.find_elf = dwfl_linux_proc_find_elf,
	/* Local debug files by build-id only: the standard one asks
	 * debuginfod (DEBUGINFOD_URLS), over the network, in the loop,
	 * when .eh_frame does not unwind a frame and .debug_frame is
	 * sought (symbolizer.c). */
	.find_debuginfo = dwfl_build_id_find_debuginfo,
	.debuginfo_path = &debuginfo_path,
};

/* The one thread unwound at a time. */
static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
	struct uproc *p = arg;

	(void)dwfl;
	if (*thread_argp)
		return 0;
	*thread_argp = p;
	return (pid_t)p->tid;
}

static bool get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
	struct uproc *p = arg;

	(void)dwfl;
	*thread_argp = p;
	return (uint32_t)tid == p->tid;
}

/* Stack words from the copy; anything else is unknown. */
static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result,
			void *arg)
{
	struct uproc *p = arg;
	uint64_t off;

	(void)dwfl;
	if (!p->regs || addr < p->regs->sp)
		return false;
	off = addr - p->regs->sp;
	if (off > p->len || p->len - off < sizeof(*result))
		return false;
	memcpy(result, p->stack + off, sizeof(*result));
	return true;
}

static bool set_initial_registers(Dwfl_Thread *thread, void *arg)
{
	struct uproc *p = arg;
	const struct unwind_regs *r = p->regs;
	Dwarf_Word bx = r->bx, bp_sp[2] = {r->bp, r->sp},
		   r12_15[4] = {r->r12, r->r13, r->r14, r->r15};

	dwfl_thread_state_register_pc(thread, r->ip);
	return dwfl_thread_state_registers(thread, DWREG_RBX, 1, &bx) &&
	       dwfl_thread_state_registers(thread, DWREG_RBP, 2, bp_sp) &&
	       dwfl_thread_state_registers(thread, DWREG_R12, 4, r12_15);
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
	.next_thread = next_thread,
	.get_thread = get_thread,
	.memory_read = memory_read,
	.set_initial_registers = set_initial_registers,
};

struct unwinder *unwinder__new(void)
{
	struct unwinder *u = calloc(1, sizeof(*u));

	if (u)
		hmap__init(&u->procs);
	return u;
}

static void uproc_close(struct uproc *p)
{
	if (p->dwfl)
		dwfl_end(p->dwfl);
	p->dwfl = NULL;
}

void unwinder__free(struct unwinder *u)
{
	uint64_t k;
	void *v;

	if (!u)
		return;
	for (size_t i = 0; hmap__next(&u->procs, &i, &k, &v);) {
		uproc_close(v);
		free(v);
	}
	hmap__fini(&u->procs);
	free(u);
}

bool unwinder__in_file(struct unwinder *u, uint32_t pid, uint64_t addr)
{
	struct uproc *p = u ? hmap__get(&u->procs, pid) : NULL;

	return p && p->dwfl && dwfl_addrmodule(p->dwfl, addr);
}

void unwinder__forget(struct unwinder *u, uint32_t pid)
{
	struct uproc *p = hmap__del(&u->procs, pid);

	if (p) {
		uproc_close(p);
		free(p);
	}
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* p's Dwfl from its maps now. Returns 0 or -errno. */
static int uproc_open(struct uproc *p)
{
	uproc_close(p);
	p->opened_ns = mono_ns();
	p->dwfl = dwfl_begin(&proc_callbacks);
	if (!p->dwfl)
		return -ENOMEM;
	dwfl_report_begin(p->dwfl);
	if (dwfl_linux_proc_report(p->dwfl, (pid_t)p->pid) ||
	    dwfl_report_end(p->dwfl, NULL, NULL) ||
	    !dwfl_attach_state(p->dwfl, NULL, (pid_t)p->pid, &thread_callbacks,
			       p)) {
		uproc_close(p);
		return -ESRCH;
	}
	return 0;
}

static int on_frame(Dwfl_Frame *state, void *arg)
{
	struct uproc *p = arg;
	Dwarf_Addr pc;
	bool act;

	if (!dwfl_frame_pc(state, &pc, &act) || !pc)
		return DWARF_CB_ABORT;
	/* A return into no file (JIT code, the vdso, junk) ends the stack:
	 * the collector cuts it there anyway (collector_unwind.c,
	 * key_covers), and going on, by frame pointers through a JIT's
	 * frames, is work for nothing. */
	if (p->n && !dwfl_addrmodule(p->dwfl, pc)) {
		p->nofile = true;
		return DWARF_CB_ABORT;
	}
	p->frames[p->n++] = pc;
	return p->n < p->max ? DWARF_CB_OK : DWARF_CB_ABORT;
}

/* Unwind with p's Dwfl as it is; the count. */
static uint32_t unwind_once(struct uproc *p)
{
	p->n = 0;
	p->nofile = false;
	dwfl_getthread_frames(p->dwfl, (pid_t)p->tid, on_frame, p);
	return p->n;
}

int unwinder__stack(struct unwinder *u, uint32_t pid, uint32_t tid,
		    const struct unwind_regs *regs, const void *stack,
		    uint32_t len, uint64_t *frames, uint32_t max)
{
	struct uproc *p = hmap__get(&u->procs, pid);
	bool fresh = false, young, site_unknown;
	uint64_t now;

	if (!max)
		return 0;
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p || hmap__put(&u->procs, pid, p)) {
			free(p);
			return -ENOMEM;
		}
		p->pid = pid;
		p->born_ns = mono_ns();
	}
	if (p->failed)
		return -ESRCH;
	if (!p->dwfl) {
		if (uproc_open(p)) {
			p->failed = true;
			return -ESRCH;
		}
		fresh = true;
	}
	p->tid = tid;
	p->regs = regs;
	p->stack = stack;
	p->len = len;
	p->frames = frames;
	p->max = max;
	unwind_once(p);
	/* A call site in a module mapped since the maps were read (a dlopen
	 * not reported yet): read them again and unwind again, once a
	 * second at most (JIT code is in no file). In a process's first 2
	 * seconds, while ld.so maps its libraries, a return into no file
	 * may be one too, and the maps are read again every 100 ms: a
	 * JIT's or an interpreter's frames are in no file for good, and
	 * each read costs the loop milliseconds on a large process. */
	now = mono_ns();
	young = now - p->born_ns < 2000000000ull;
	site_unknown = !dwfl_addrmodule(p->dwfl, regs->ip);
	if (!fresh && (site_unknown || (young && p->nofile)) &&
	    now - p->opened_ns >= (young ? 100000000ull : 1000000000ull) &&
	    !uproc_open(p))
		unwind_once(p);
	p->regs = NULL;
	p->stack = NULL;
	return (int)p->n;
}

/* --- rules for the BPF side's walk ----------------------------------- */

/* The CFI row covering pc (module-relative through its bias), from
 * .eh_frame, else .debug_frame: the order libdwfl's unwinder tries them.
 * The caller frees *frame. */
static int cfi_row(Dwfl_Module *mod, Dwarf_Addr pc, Dwarf_Frame **frame)
{
	Dwarf_Addr bias;
	Dwarf_CFI *cfi = dwfl_module_eh_cfi(mod, &bias);

	if (cfi && !dwarf_cfi_addrframe(cfi, pc - bias, frame))
		return 0;
	cfi = dwfl_module_dwarf_cfi(mod, &bias);
	if (cfi && !dwarf_cfi_addrframe(cfi, pc - bias, frame))
		return 0;
	return -ENOENT;
}

/* A register saved at CFA + *off: DW_OP_call_frame_cfa, then
 * DW_OP_plus_uconst of the (two's complement) offset when not 0. */
static bool saved_at_cfa(const Dwarf_Op *ops, size_t nops, int32_t *off)
{
	if (!ops || !nops || ops[0].atom != DW_OP_call_frame_cfa)
		return false;
	if (nops == 1) {
		*off = 0;
		return true;
	}
	if (nops != 2 || ops[1].atom != DW_OP_plus_uconst)
		return false;
	*off = (int32_t)(int64_t)ops[1].number;
	return (int64_t)*off == (int64_t)ops[1].number;
}

static int rule_at(Dwfl_Module *mod, Dwarf_Addr pc, struct unwind_rule *r)
{
	Dwarf_Frame *f = NULL;
	Dwarf_Op mem[3], *ops;
	Dwarf_Addr start, end;
	size_t nops;
	int32_t off;
	bool signal;
	int err = -ENOENT;

	/* No CFI there (V8's builtins have none): libdwfl's unwinder falls
	 * back to the frame pointer (elfutils' x86_64_unwind), which is
	 * this rule. */
	if (cfi_row(mod, pc, &f)) {
		*r = (struct unwind_rule){UNWIND_RULE_BP, 16, -16};
		return 0;
	}
	*r = (struct unwind_rule){0};
	if (dwarf_frame_info(f, &start, &end, &signal) < 0 || signal ||
	    dwarf_frame_register(f, DWREG_RA, mem, &ops, &nops))
		goto out;
	if (!nops && ops == mem) { /* undefined: no caller */
		r->kind = UNWIND_RULE_END;
		err = 0;
		goto out;
	}
	if (!saved_at_cfa(ops, nops, &off) || off != -8)
		goto out;
	if (dwarf_frame_cfa(f, &ops, &nops) || nops != 1 ||
	    ops[0].atom != DW_OP_bregx ||
	    (ops[0].number != DWREG_RSP && ops[0].number != DWREG_RBP) ||
	    (int64_t)(int32_t)ops[0].number2 != (int64_t)ops[0].number2)
		goto out;
	r->kind = ops[0].number == DWREG_RSP ? UNWIND_RULE_SP : UNWIND_RULE_BP;
	r->off = (int32_t)ops[0].number2;
	if (dwarf_frame_register(f, DWREG_RBP, mem, &ops, &nops))
		goto out;
	if (!nops && !ops) /* same value: rbp unchanged */
		err = 0;
	else if (saved_at_cfa(ops, nops, &off) && off && off != -8) {
		r->bp_off = off;
		err = 0;
	}
out:
	free(f);
	return err;
}

int unwinder__rule(struct unwinder *u, uint32_t pid, uint64_t ip,
		   bool innermost, struct unwind_rule *out)
{
	struct uproc *p = u ? hmap__get(&u->procs, pid) : NULL;
	Dwfl_Module *mod;
	struct unwind_rule at_ip;

	if (!p || !p->dwfl || !ip || !(mod = dwfl_addrmodule(p->dwfl, ip - 1)))
		return -ENOENT;
	/* A return address is the instruction after a call: the caller's
	 * state is the call's, at ip - 1 (a noreturn call may end its
	 * function, and ip start the next). The innermost frame resumes at
	 * ip itself; it keeps a rule only if both agree, so that one rule
	 * serves an address met either way. */
	if (rule_at(mod, ip - 1, out))
		return -ENOENT;
	if (innermost && (rule_at(mod, ip, &at_ip) ||
			  memcmp(&at_ip, out, sizeof(at_ip))))
		return -ENOENT;
	return 0;
}
