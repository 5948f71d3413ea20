/*
 * kfeature.c - the kernel feature table (kfeature.h). The "without" texts
 * are what a user reads in memwatchd --features, the log, status and
 * docs/KERNELS.md: say what still works and what does not.
 */
#include <stddef.h>

#include "kfeature.h"

static const struct mw_kfeature_info table[MW_KF_MAX] = {
	[MW_KF_BTF] = {"btf", "the kernel's BTF, /sys/kernel/btf/vmlinux",
		       true, "required: the programs are CO-RE"},
	[MW_KF_RINGBUF] = {"ringbuf", "BPF ring buffer (Linux 5.8)", true,
			   "required: every event goes through it"},
	[MW_KF_HELPERS] = {"helpers",
			   "the BPF helpers the programs call (Linux 5.17)",
			   true, "required"},
	[MW_KF_TP_BTF] = {"tp_btf",
			  "tp_btf sched_process_fork, _exit and _exec", true,
			  "required: threads and processes are followed "
			  "there"},
	[MW_KF_UPROBES] = {"uprobes", "uprobe events (CONFIG_UPROBE_EVENTS)",
			   true, "required: the malloc family is probed"},
	[MW_KF_SYSCALL_TP] = {"syscall_tracepoints",
			      "syscall tracepoints (CONFIG_FTRACE_SYSCALLS)",
			      false,
			      "no allocator-retention findings (mmap, brk "
			      "unseen); before Linux 6.13 the children of "
			      "followed targets are attached as they run, "
			      "their first allocations unseen"},
	[MW_KF_CGROUP2] = {"cgroup2", "a cgroup v2 hierarchy mounted", false,
			   "no --cgroup and --unit targets"},
	[MW_KF_SIGNAL_TASK] = {"send_signal_task",
			       "kfunc bpf_send_signal_task (Linux 6.13)",
			       false,
			       "a followed target's child is held from its "
			       "own first return to user space (syscall "
			       "tracepoints) instead of from its parent's "
			       "fork: nothing is lost"},
	[MW_KF_UPROBE_MULTI] = {"uprobe_multi",
				"uprobe_multi links (Linux 6.6)", false,
				"one uprobe link per probed offset: attach "
				"and detach take longer, and memwatchd keeps "
				"CAP_SYS_ADMIN (perf uprobe events need it)"},
	[MW_KF_URETPROBE_SYSCALL] = {"uretprobe_syscall",
				     "uretprobe syscall, x86-64 (Linux 6.11)",
				     false,
				     "a probed function's return traps "
				     "(int3): each probed call costs more"},
	[MW_KF_PERF_PERFMON] = {"perf_perfmon",
				"perf events open to CAP_PERFMON "
				"(kernel.perf_event_paranoid 2 or less)",
				false,
				"memwatchd keeps CAP_SYS_ADMIN after start: "
				"Debian's and Ubuntu's level 3 opens perf "
				"events (the syscall tracepoints) to it alone"},
	[MW_KF_EXIT_TP_EARLY] = {"exit_tp_early",
				 "sched_process_exit before the thread's "
				 "memory is released, where a thread joining "
				 "it wakes (Linux 6.16)",
				 false,
				 "a thread's end is taken at exit_mm_release "
				 "(exit_fentry), the same point: nothing is "
				 "lost"},
	[MW_KF_EXIT_FENTRY] = {"exit_fentry",
			       "fentry on exit_mm_release (BPF trampolines)",
			       false,
			       "where exit_tp_early is missing too, a "
			       "thread's end is seen after a thread that "
			       "joined it ran on: a TLS-only trace may report "
			       "a key deleted right after pthread_join "
			       "(tls-outlived-key)"},
};

const struct mw_kfeature_info *mw_kfeature(int f)
{
	return f >= 0 && f < MW_KF_MAX ? &table[f] : NULL;
}

uint32_t mw_kfeature_required(void)
{
	uint32_t m = 0;

	for (int f = 0; f < MW_KF_MAX; f++)
		if (table[f].required)
			m |= 1u << f;
	return m;
}
