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
