/*
 * uprobe.h - one BPF program on many offsets of one file in one process,
 * under one link.
 *
 * Removing a uprobe waits for an RCU grace period (about 0.1 s here), and
 * libbpf 1.1 makes one link, so one wait, per offset: a traced process
 * with its allocators carries dozens. The kernel's uprobe_multi link
 * (Linux 6.6) registers and removes a whole set at once; libbpf 1.1 does
 * not know it, so this file speaks it through the bpf syscall, and falls
 * back to one libbpf link per offset on older kernels.
 */
#ifndef MEMWATCH_UPROBE_H
#define MEMWATCH_UPROBE_H

#include <stdbool.h>
#include <stdint.h>

struct bpf_object;
struct bpf_program;
struct uplink;

/* Before the object is loaded: with multi (the kernel has uprobe_multi
 * links, daemon/kernel.c), prepare every uprobe program of obj for them
 * and return 1; 0 if not. */
int uprobe__prepare(struct bpf_object *obj, bool multi);

/* Attach prog, loaded after uprobe__prepare() said multi, at offs[0..n)
 * of the ELF file at path in process pid (all its threads), each with
 * its attach cookie. Returns the link, or NULL with errno set. */
struct uplink *uprobe__attach(struct bpf_program *prog, bool multi,
			      uint32_t pid, const char *path,
			      const uint64_t *offs, const uint64_t *cookies,
			      int n, bool retprobe);
/* Remove the probes and free l; accepts NULL. */
void uprobe__detach(struct uplink *l);
/* The same for ls[0..n) (NULLs allowed), all at once: see uprobe.c. */
void uprobe__detach_all(struct uplink **ls, int n);

#endif
