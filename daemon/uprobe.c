/*
 * uprobe.c - uprobe links, one per (program, file, process); see
 * uprobe.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "parallel.h"
#include "uprobe.h"

/* From the kernel's uapi (Linux 6.6), newer than the headers libbpf 1.1
 * and Debian 12 ship; checked against this kernel's BTF. */
#define MW_BPF_TRACE_UPROBE_MULTI 48
#define MW_BPF_F_UPROBE_MULTI_RETURN 1u

/* union bpf_attr as BPF_LINK_CREATE reads it for a uprobe_multi link. */
struct link_create_uprobe_multi {
	uint32_t prog_fd;
	uint32_t target_fd;
	uint32_t attach_type;
	uint32_t flags;
	uint64_t path;
	uint64_t offsets;
	uint64_t ref_ctr_offsets;
	uint64_t cookies;
	uint32_t cnt;
	uint32_t multi_flags;
	uint32_t pid;
	uint32_t pad;
};

struct uplink {
	int fd; /* the multi link, or -1 */
	int n;	/* legacy: one libbpf link per offset */
	struct bpf_link *links[];
};

static bool is_uprobe(const struct bpf_program *prog)
{
	const char *sec = bpf_program__section_name(prog);

	return !strncmp(sec, "uprobe", 6) || !strncmp(sec, "uretprobe", 9);
}

int uprobe__prepare(struct bpf_object *obj, bool multi)
{
	struct bpf_program *prog;

	if (!multi)
		return 0;
	bpf_object__for_each_program(prog, obj)
	{
		if (is_uprobe(prog) &&
		    bpf_program__set_expected_attach_type(
			prog, (enum bpf_attach_type)MW_BPF_TRACE_UPROBE_MULTI))
			return 0;
	}
	return 1;
}

static struct uplink *attach_multi(struct bpf_program *prog, uint32_t pid,
				   const char *path, const uint64_t *offs,
				   const uint64_t *cookies, int n,
				   bool retprobe)
{
	struct link_create_uprobe_multi attr;
	struct uplink *l = calloc(1, sizeof(*l));
	long fd;

	if (!l)
		return NULL;
	memset(&attr, 0, sizeof(attr));
	attr.prog_fd = (uint32_t)bpf_program__fd(prog);
	attr.attach_type = MW_BPF_TRACE_UPROBE_MULTI;
	attr.path = (uint64_t)(uintptr_t)path;
	attr.offsets = (uint64_t)(uintptr_t)offs;
	attr.cookies = (uint64_t)(uintptr_t)cookies;
	attr.cnt = (uint32_t)n;
	attr.multi_flags = retprobe ? MW_BPF_F_UPROBE_MULTI_RETURN : 0;
	attr.pid = pid;
	fd = syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
	if (fd < 0) {
		int err = errno;

		free(l);
		errno = err;
		return NULL;
	}
	l->fd = (int)fd;
	return l;
}

struct uplink *uprobe__attach(struct bpf_program *prog, bool multi,
			      uint32_t pid, const char *path,
			      const uint64_t *offs, const uint64_t *cookies,
			      int n, bool retprobe)
{
	struct uplink *l;

	if (n <= 0) {
		errno = EINVAL;
		return NULL;
	}
	if (multi)
		return attach_multi(prog, pid, path, offs, cookies, n,
				    retprobe);
	/* links[] holds pointers: sizeof(l->links[0]) is a pointer's size,
	 * as meant, which clang-tidy 14 takes for a mistake. */
	/* NOLINTNEXTLINE(bugprone-sizeof-expression) */
	l = calloc(1, sizeof(*l) + (size_t)n * sizeof(l->links[0]));
	if (!l)
		return NULL;
	l->fd = -1;
	for (int i = 0; i < n; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, uo, .retprobe = retprobe,
			    .bpf_cookie = cookies[i]);

		l->links[i] = bpf_program__attach_uprobe_opts(
		    prog, (int)pid, path, offs[i], &uo);
		if (!l->links[i]) {
			int err = errno;

			uprobe__detach(l);
			errno = err;
			return NULL;
		}
		l->n++;
	}
	return l;
}

void uprobe__detach(struct uplink *l)
{
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	for (int i = 0; i < l->n; i++)
		bpf_link__destroy(l->links[i]);
	free(l);
}

static void detach_item(void *l)
{
	uprobe__detach(l);
}

/* A process carries 19 links here; closed in turn they held the daemon's
 * loop for over a second (about 60 ms each), at once about 0.1 s. All are
 * closed when this returns: a link left open past a new attach of the
 * same pid would run its program twice per call. */
void uprobe__detach_all(struct uplink **ls, int n)
{
	parallel__each(detach_item, (void *const *)ls, n);
}
