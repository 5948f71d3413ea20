/*
 * privs.h - memwatchd gives up the capabilities it no longer needs once
 * its eBPF programs are loaded and its first targets attached.
 *
 * What the daemon still does at run time, and the capability each needs
 * (docs/RELIABILITY.md, Security, says how each was measured):
 *  - attach new targets (control socket, watches at exec and fork):
 *    uprobe perf events and uprobe_multi links, CAP_PERFMON; reading
 *    /proc/PID/{maps,exe,root,environ} and, by process_vm_readv, the key
 *    table of processes of other users or with more capabilities than
 *    its own, CAP_SYS_PTRACE;
 *  - read the ELF files and debug info of those processes in directories
 *    of other users, CAP_DAC_READ_SEARCH; open the files a process maps
 *    by /proc/PID/map_files (the very file, in whatever mount namespace
 *    or root the process has), CAP_CHECKPOINT_RESTORE;
 *  - SIGCONT the processes of other users that a watch held at exec,
 *    CAP_KILL (the guard process, guard.h, keeps that one alone).
 * Loading programs and creating maps (CAP_BPF) happens at start only.
 * The database, the control socket and the metrics textfile are opened
 * or made by root in root's directories: no capability for them.
 */
#ifndef MEMWATCH_PRIVS_H
#define MEMWATCH_PRIVS_H

#include <linux/capability.h>
#include <stdint.h>

#define PRIVS_BIT(cap) (1ull << (cap))
/* The set memwatchd keeps after start-up. */
#define PRIVS_RUNTIME                                                          \
	(PRIVS_BIT(CAP_DAC_READ_SEARCH) | PRIVS_BIT(CAP_KILL) |                \
	 PRIVS_BIT(CAP_SYS_PTRACE) | PRIVS_BIT(CAP_PERFMON) |                 \
	 PRIVS_BIT(CAP_CHECKPOINT_RESTORE))

/*
 * Keep only the capabilities in keep (a mask of 1 << CAP_*): drop every
 * other one from the bounding set (when the process may: CAP_SETPCAP),
 * the ambient and inheritable sets, then the permitted and effective
 * sets, and set no_new_privs, so nothing the daemon might exec gets any
 * back. A capability in keep that the process does not have stays
 * absent. Returns 0, or -errno of the first step that failed; *missing
 * gets the capabilities of keep the process does not have.
 */
int privs__drop(uint64_t keep, uint64_t *missing);

#endif
