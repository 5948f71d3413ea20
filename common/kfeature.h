/*
 * kfeature.h - the kernel features memwatch uses, and what each one
 * missing costs: one table that memwatchd --features, --check-config, the
 * log at start, memwatchctl status and /metrics all print from, so that
 * they always say the same. The daemon finds them (daemon/kernel.c); the
 * control socket carries the found ones as a bit mask (proto.h).
 */
#ifndef MEMWATCH_KFEATURE_H
#define MEMWATCH_KFEATURE_H

#include <stdbool.h>
#include <stdint.h>

enum mw_kfeature {
	MW_KF_BTF,		/* the kernel's own BTF: CO-RE, tp_btf */
	MW_KF_RINGBUF,		/* BPF ring buffer (5.8) */
	MW_KF_HELPERS,		/* every BPF helper the programs call */
	MW_KF_TP_BTF,		/* tp_btf sched_process_{fork,exit,exec} */
	MW_KF_UPROBES,		/* uprobe events */
	MW_KF_SYSCALL_TP,	/* syscall tracepoints */
	MW_KF_CGROUP2,		/* a cgroup v2 hierarchy mounted */
	MW_KF_SIGNAL_TASK,	/* kfunc bpf_send_signal_task (6.13) */
	MW_KF_UPROBE_MULTI,	/* uprobe_multi links (6.6) */
	MW_KF_URETPROBE_SYSCALL, /* uretprobe syscall, x86-64 (6.11) */
	MW_KF_PERF_PERFMON,	/* perf events for CAP_PERFMON: paranoid <= 2 */
	MW_KF_EXIT_TP_EARLY,	/* sched_process_exit before exit_mm (6.16) */
	MW_KF_EXIT_FENTRY,	/* fentry on exit_mm_release */
	MW_KF_MAX
};

struct mw_kfeature_info {
	const char *name;    /* as printed: "uprobe_multi" */
	const char *what;    /* what it is, with the release it came in */
	bool required;	     /* memwatchd does not start without it */
	const char *without; /* what memwatch does without it */
};

/* The entry of feature f (0 <= f < MW_KF_MAX). */
const struct mw_kfeature_info *mw_kfeature(int f);

/* The mask of the required features. */
uint32_t mw_kfeature_required(void);

#endif
