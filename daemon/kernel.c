/*
 * kernel.c - the probe of the running kernel's features; see kernel.h.
 *
 * Each feature is looked for where the kernel says it has it, not by its
 * release (distributions backport): a type, function or enum value in its
 * BTF, a file in sysfs, a mount. Only the load itself proves a program
 * loads; this says beforehand which programs to load, and why a kernel
 * is refused.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "cgroup.h"
#include "kernel.h"
#include "kfeature.h"

/* Every helper bpf/memwatch.bpf.c calls that came after the ring buffer
 * (5.8), newest last: bpf_find_vma is 5.17. */
static const char *const helpers[] = {
	"BPF_FUNC_get_ns_current_pid_tgid",
	"BPF_FUNC_get_current_ancestor_cgroup_id",
	"BPF_FUNC_ringbuf_reserve",
	"BPF_FUNC_ringbuf_query",
	"BPF_FUNC_get_current_task_btf",
	"BPF_FUNC_get_attach_cookie",
	"BPF_FUNC_task_pt_regs",
	"BPF_FUNC_find_vma",
};

static bool has(const struct btf *btf, const char *name, int kind)
{
	return btf__find_by_name_kind(btf, name, kind) > 0;
}

/* The first helper of helpers[] that enum bpf_func_id lacks, or NULL. */
static const char *missing_helper(const struct btf *btf)
{
	int id = btf__find_by_name_kind(btf, "bpf_func_id", BTF_KIND_ENUM);
	const struct btf_type *t = id > 0 ? btf__type_by_id(btf, id) : NULL;

	if (!t)
		return helpers[0];
	for (size_t h = 0; h < sizeof(helpers) / sizeof(helpers[0]); h++) {
		const struct btf_enum *e = btf_enum(t);
		int i, n = btf_vlen(t);

		for (i = 0; i < n; i++, e++)
			if (!strcmp(btf__name_by_offset(btf, e->name_off),
				    helpers[h]))
				break;
		if (i == n)
			return helpers[h];
	}
	return NULL;
}

/* Linux 6.16 moved sched_process_exit before exit_mm and gave it the
 * argument group_dead: btf_trace_sched_process_exit is then a pointer to
 * (void *, struct task_struct *, bool), three parameters, not two. */
static bool exit_tp_early(const struct btf *btf)
{
	int id = btf__find_by_name_kind(btf, "btf_trace_sched_process_exit",
					BTF_KIND_TYPEDEF);
	const struct btf_type *t = id > 0 ? btf__type_by_id(btf, id) : NULL;

	if (t && btf_is_typedef(t))
		t = btf__type_by_id(btf, t->type);
	if (t && btf_is_ptr(t))
		t = btf__type_by_id(btf, t->type);
	return t && btf_is_func_proto(t) && btf_vlen(t) >= 3;
}

static void probe_btf(struct kernel *k, const struct btf *btf)
{
	const char *h;

	k->found |= 1u << MW_KF_BTF;
	/* The map's own type, in kernel/bpf/ringbuf.c. */
	if (has(btf, "bpf_ringbuf_map", BTF_KIND_STRUCT))
		k->found |= 1u << MW_KF_RINGBUF;
	h = missing_helper(btf);
	if (!h)
		k->found |= 1u << MW_KF_HELPERS;
	else
		snprintf(k->missing_helper, sizeof(k->missing_helper), "%s",
			 h + strlen("BPF_FUNC_"));
	/* A tracepoint's BTF-typed form is the typedef btf_trace_NAME. */
	if (has(btf, "btf_trace_sched_process_fork", BTF_KIND_TYPEDEF) &&
	    has(btf, "btf_trace_sched_process_exit", BTF_KIND_TYPEDEF) &&
	    has(btf, "btf_trace_sched_process_exec", BTF_KIND_TYPEDEF))
		k->found |= 1u << MW_KF_TP_BTF;
	if (exit_tp_early(btf))
		k->found |= 1u << MW_KF_EXIT_TP_EARLY;
	if (has(btf, "exit_mm_release", BTF_KIND_FUNC))
		k->found |= 1u << MW_KF_EXIT_FENTRY;
	/* kernel/trace/trace_syscalls.c, built with the syscall events. */
	if (has(btf, "ftrace_syscall_exit", BTF_KIND_FUNC))
		k->found |= 1u << MW_KF_SYSCALL_TP;
	if (has(btf, "bpf_send_signal_task", BTF_KIND_FUNC))
		k->found |= 1u << MW_KF_SIGNAL_TASK;
	/* The link's own type exists exactly where the kernel has it. */
	if (has(btf, "bpf_uprobe_multi_link", BTF_KIND_STRUCT))
		k->found |= 1u << MW_KF_UPROBE_MULTI;
#if defined(__x86_64__)
	if (has(btf, "__x64_sys_uretprobe", BTF_KIND_FUNC))
		k->found |= 1u << MW_KF_URETPROBE_SYSCALL;
#endif
}

/* kernel.perf_event_paranoid: above 2 only distributions' kernels go
 * (Debian's and Ubuntu's 3: no perf event without CAP_SYS_ADMIN). A
 * kernel without the file has no perf events at all: 4. */
static int perf_paranoid(void)
{
	FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "re");
	int level = 4;

	if (f) {
		if (fscanf(f, "%d", &level) != 1)
			level = 4;
		fclose(f);
	}
	return level;
}

/* Take the features named in list (comma-separated) out of k->found. */
static int mask(struct kernel *k, const char *list, char *why, size_t len)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *n = strtok_r(buf, ",", &save); n;
	     n = strtok_r(NULL, ",", &save)) {
		int f;

		for (f = 0; f < MW_KF_MAX; f++)
			if (!strcmp(mw_kfeature(f)->name, n))
				break;
		if (f == MW_KF_MAX || mw_kfeature(f)->required) {
			snprintf(why, len,
				 "MEMWATCH_KERNEL_MISSING: '%s' is not an "
				 "optional feature (memwatchd --features)",
				 n);
			return -EINVAL;
		}
		k->masked |= k->found & (1u << f);
		k->found &= ~(1u << f);
	}
	return 0;
}

int kernel__probe(struct kernel *k, char *why, size_t len)
{
	libbpf_print_fn_t old;
	struct utsname u;
	struct btf *btf;
	char mnt[PATH_MAX];
	const char *env;

	memset(k, 0, sizeof(*k));
	if (!uname(&u))
		snprintf(k->release, sizeof(k->release), "%s", u.release);
	else
		snprintf(k->release, sizeof(k->release), "unknown");
	/* Its absence is reported here, in one line: not by libbpf too. */
	old = libbpf_set_print(NULL);
	btf = btf__load_vmlinux_btf();
	libbpf_set_print(old);
	if (btf) {
		probe_btf(k, btf);
		btf__free(btf);
	}
	if (!access("/sys/bus/event_source/devices/uprobe/type", F_OK))
		k->found |= 1u << MW_KF_UPROBES;
	if (!cgroup__mount(mnt, sizeof(mnt)))
		k->found |= 1u << MW_KF_CGROUP2;
	if (perf_paranoid() <= 2)
		k->found |= 1u << MW_KF_PERF_PERFMON;
	env = getenv("MEMWATCH_KERNEL_MISSING");
	return env && env[0] ? mask(k, env, why, len) : 0;
}

int kernel__check(const struct kernel *k, char *msg, size_t len)
{
	uint32_t req = mw_kfeature_required();
	size_t n;

	if ((k->found & req) == req)
		return 0;
	n = (size_t)snprintf(msg, len, "Linux %s:", k->release);
	for (int f = 0; f < MW_KF_MAX && n < len; f++) {
		const struct mw_kfeature_info *i = mw_kfeature(f);

		/* Without BTF the others found there are unknown. */
		if (!i->required ||
		    (!(k->found & 1u << MW_KF_BTF) && f != MW_KF_BTF &&
		     f != MW_KF_UPROBES))
			continue;
		n += (size_t)snprintf(msg + n, len - n, "%s %s %s",
				      f ? "," : "", i->name,
				      k->found & (1u << f) ? "found"
							   : "missing");
		if (f == MW_KF_HELPERS && k->missing_helper[0] && n < len)
			n += (size_t)snprintf(msg + n, len - n, " (%s)",
					      k->missing_helper);
	}
	return -ENOTSUP;
}

bool kernel__can_hold(const struct kernel *k)
{
	return k->found & (1u << MW_KF_SIGNAL_TASK | 1u << MW_KF_SYSCALL_TP);
}

void kernel__print(const struct kernel *k, FILE *f)
{
	fprintf(f, "kernel: Linux %s\n", k->release);
	for (int i = 0; i < MW_KF_MAX; i++) {
		const struct mw_kfeature_info *fi = mw_kfeature(i);
		bool found = k->found & (1u << i);

		fprintf(f, "%-20s %-8s %s\n", fi->name,
			found ? "found"
			      : k->masked & (1u << i) ? "masked" : "missing",
			fi->what);
		if (!found)
			fprintf(f, "%-20s %-8s without it: %s\n", "", "",
				fi->without);
	}
}
