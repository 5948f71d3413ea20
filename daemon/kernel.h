/*
 * kernel.h - the running kernel: its release and which of the features
 * memwatch uses it has (common/kfeature.h). One probe, read by
 * memwatchd --features, --check-config, the collector's load-time
 * choices, the log at start, status and /metrics.
 */
#ifndef MEMWATCH_KERNEL_H
#define MEMWATCH_KERNEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct kernel {
	char release[65];     /* uname -r */
	uint32_t found;	      /* 1 << enum mw_kfeature, for each found */
	uint32_t masked;      /* found, but MEMWATCH_KERNEL_MISSING says not */
	char missing_helper[40]; /* the first BPF helper missing, if any */
};

/*
 * Probe the kernel, without loading anything: from its BTF, sysfs and the
 * mounts, so that it works without root too (--check-config). The
 * environment variable MEMWATCH_KERNEL_MISSING, a comma-separated list
 * of optional features' names, makes those count as missing: for tests
 * of the fallbacks on a kernel that has them. Returns 0, or -EINVAL
 * naming an unknown or required feature there (in why).
 */
int kernel__probe(struct kernel *k, char *why, size_t len);

/* 0 if k has every required feature; else -ENOTSUP and one line in msg:
 * "Linux 5.10: btf found, ringbuf found, ..., tp_btf missing". */
int kernel__check(const struct kernel *k, char *msg, size_t len);

/* Whether a followed process's child can be held before it runs: from
 * its parent's fork (send_signal_task) or from its own first return to
 * user space (syscall_tracepoints). */
bool kernel__can_hold(const struct kernel *k);

/* The feature report, for memwatchd --features: the release, then one
 * line per feature, found or missing, and what memwatch does without it. */
void kernel__print(const struct kernel *k, FILE *f);

#endif
