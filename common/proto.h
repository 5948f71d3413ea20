/*
 * proto.h - the control-socket protocol between memwatchctl and memwatchd.
 *
 * Every message, request or reply, is a fixed header followed by exactly
 * hdr.len bytes of payload; a receiver that gets a different length, an
 * unknown type or a bad magic rejects the message. Replies carry status 0
 * or a negative errno; an error reply's payload is a one-line message
 * (not NUL-terminated).
 */
#ifndef MEMWATCH_PROTO_H
#define MEMWATCH_PROTO_H

#include <stdint.h>

#define MW_PROTO_MAGIC 0x4d574354u /* "MWCT" */
#define MW_PROTO_VERSION 1
#define MW_PROTO_MAX_PAYLOAD 4096

enum mw_msg_type {
	MW_MSG_STATUS = 1,	/* request: no payload; reply: mw_msg_status */
	MW_MSG_ATTACH = 2,	/* request: mw_msg_pid; reply: none */
	MW_MSG_DETACH = 3,	/* request: mw_msg_pid; reply: none */
	/* Start watching a target by name: processes running it now are
	 * attached, those starting later are caught at exec. */
	MW_MSG_WATCH = 4,	/* request: mw_msg_watch; reply: none */
	/* Stop watching it and detach the processes it names. */
	MW_MSG_UNWATCH = 5,	/* request: mw_msg_watch; reply: none */
	/* Read the configuration again, as SIGHUP does; a bad one is
	 * refused with its one-line error and the old one stays. */
	MW_MSG_RELOAD = 6,	/* request: no payload; reply: none */
	/* Acknowledge a finding (memwatchctl ack): kept, never shown as
	 * open; -ENOENT for an unknown id. */
	MW_MSG_ACK = 7,		/* request: mw_msg_ack; reply: none */
};

enum mw_watch_kind {
	MW_WATCH_EXE = 1,    /* an executable's path */
	MW_WATCH_COMM = 2,   /* a command name */
	MW_WATCH_CGROUP = 3, /* a cgroup v2 group */
	MW_WATCH_UNIT = 4,   /* a systemd unit's group */
};

#define MW_WATCH_NAME_MAX 1016

struct mw_msg_watch {
	uint32_t kind; /* enum mw_watch_kind */
	uint32_t mode; /* watch: enum mw_trace_mode, 0 = full */
	char name[MW_WATCH_NAME_MAX]; /* NUL-terminated, not empty */
};

#define MW_ACK_NOTE_MAX 256 /* rows.h's MW_NOTE_MAX */

struct mw_msg_ack {
	uint64_t id;
	char note[MW_ACK_NOTE_MAX]; /* NUL-terminated, may be empty */
};

struct mw_msg_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t len;
	int32_t status;
};

struct mw_msg_pid {
	uint32_t pid;
	uint32_t mode; /* attach: enum mw_trace_mode, 0 = full */
};

#define MW_STATUS_MAX_TARGETS 128

struct mw_msg_status {
	uint64_t started_ts;
	uint64_t events;
	uint64_t lost;
	uint64_t live_blocks;
	uint64_t findings;
	uint32_t daemon_pid;
	uint32_t ntargets;
	uint32_t targets[MW_STATUS_MAX_TARGETS];
	/* Retention since the daemon started (daemon/retention.h). */
	uint64_t pruned_rows;		/* rows removed */
	uint64_t pruned_raw_processes;	/* processes whose raw rows went */
	uint64_t pruned_processes;	/* processes removed entirely */
	uint64_t prune_step_max_ns;	/* the longest time the loop waited */
	/* The kernel it runs on (daemon/kernel.h): its release, and the
	 * features found, 1 << enum mw_kfeature (kfeature.h) each. */
	char kernel_release[80];	/* NUL-terminated */
	uint32_t kfeatures;
	uint32_t pad;
};

#endif
