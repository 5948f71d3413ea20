/*
 * rows.c - the description of each table's row (see rows.h): the one
 * place a column is named, typed and placed, from which the store writes
 * and reads it and memwatchctl shows it.
 *
 * Each table lists its columns in the order memwatchctl --json shows
 * them; hidden ones (the serials that join tables) anywhere. since is
 * the migration that added the column: a reader of an older database
 * reads 0 (or "") for it. The flags KEY and KEEP give the upsert:
 * ON CONFLICT(the KEY columns) DO UPDATE SET every column but those and
 * the KEEP ones.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "rows.h"

#define FIELD_SIZE(type, field) sizeof(((type *)0)->field)

/* A column of row struct T, stored under the field's own name. */
#define COL(T, field, typ, ver, fl, ...)                                       \
	{                                                                      \
		.name = #field, .type = (typ), .since = (ver), .flags = (fl),  \
		.offset = offsetof(T, field), .size = FIELD_SIZE(T, field),    \
		__VA_ARGS__                                                    \
	}

#define DESC(T, tbl, fl, arr)                                                  \
	{                                                                      \
		.table = (tbl), .size = sizeof(T), .flags = (fl),              \
		.ncols = sizeof(arr) / sizeof((arr)[0]), .cols = (arr)         \
	}

#define U64 MW_COL_U64
#define U32 MW_COL_U32
#define KEY MW_COL_KEY
#define KEEP MW_COL_KEEP
#define TIME MW_COL_TIME
#define HIDDEN MW_COL_HIDDEN
#define HEX MW_COL_HEX

/*
 * A container's id from its cgroup path: the 64-hex-digit name docker,
 * containerd and podman give its group (docker-ID.scope, cri-containerd-
 * ID.scope, libpod-ID.scope, /docker/ID). "" when there is none: the
 * process row's virtual column container.
 */
static const char *container_id(const char *cgroup, char *buf, size_t len)
{
	for (const char *p = cgroup; *p; p++) {
		size_t n = strspn(p, "0123456789abcdef");

		if (n == 64 &&
		    (p == cgroup || !isxdigit((unsigned char)p[-1]))) {
			snprintf(buf, len, "%.64s", p);
			return buf;
		}
		if (n)
			p += n - 1;
	}
	return "";
}

static const char *process_container(const void *row, char *buf, size_t len)
{
	return container_id(((const struct mw_process_row *)row)->cgroup, buf,
			    len);
}

#define P struct mw_process_row
static const struct mw_col process_columns[] = {
    COL(P, id, U64, 1, KEY),
    COL(P, pid, U32, 1, KEEP),
    COL(P, comm, MW_COL_TEXT, 1, 0),
    COL(P, state, U32, 1, 0, .name_of = mw_proc_state_name),
    COL(P, mode, U32, 3, 0, .name_of = mw_mode_name),
    COL(P, allocator, MW_COL_TEXT, 3, 0),
    COL(P, nspid, U32, 4, 0),
    COL(P, cgroup, MW_COL_TEXT, 4, 0),
    /* Not stored: made from cgroup. */
    {.name = "container",
     .type = MW_COL_TEXT,
     .flags = MW_COL_VIRTUAL,
     .derive = process_container},
    COL(P, threads, U32, 1, 0),
    COL(P, allocs, U64, 1, 0),
    COL(P, frees, U64, 1, 0),
    COL(P, unknown_frees, U64, 1, 0),
    COL(P, live_blocks, U64, 1, 0),
    COL(P, live_bytes, U64, 1, 0),
    COL(P, findings, U64, 1, 0),
    COL(P, lost, U64, 1, 0),
    COL(P, dropped, U64, 8, 0),
    COL(P, incomplete_from, U64, 8, TIME, .label = "incomplete_from_ts"),
    COL(P, incomplete_to, U64, 8, TIME, .label = "incomplete_to_ts"),
    COL(P, withheld, U64, 8, 0),
    COL(P, exit_code, MW_COL_I32, 1, 0),
    COL(P, start_ts, U64, 1, KEEP | TIME),
    COL(P, end_ts, U64, 1, TIME),
};
#undef P

#define T struct mw_thread_row
static const struct mw_col thread_columns[] = {
    COL(T, proc_id, U64, 1, KEY | HIDDEN),
    COL(T, pid, U32, 1, KEEP),
    COL(T, tid, U32, 1, KEY),
    COL(T, comm, MW_COL_TEXT, 1, 0),
    COL(T, state, U32, 1, 0, .name_of = mw_thread_state_name),
    COL(T, allocs, U64, 1, 0),
    COL(T, frees, U64, 1, 0),
    COL(T, alloc_bytes, U64, 1, 0),
    COL(T, free_bytes, U64, 1, 0),
    COL(T, cross_frees, U64, 1, 0),
    COL(T, unknown_frees, U64, 1, 0),
    COL(T, live_blocks, U64, 1, 0),
    COL(T, live_bytes, U64, 1, 0),
    /* With tid, the thread's identity: tids are reused. */
    COL(T, start_ts, U64, 1, KEY | TIME),
    COL(T, exit_ts, U64, 1, TIME),
};
#undef T

#define K struct mw_key_row
static const struct mw_col key_columns[] = {
    COL(K, proc_id, U64, 1, KEY | HIDDEN),
    COL(K, pid, U32, 1, KEEP),
    COL(K, key, U32, 1, KEY),
    COL(K, generation, U32, 1, KEY),
    COL(K, state, U32, 1, 0, .name_of = mw_key_state_name),
    /* null: no destructor. */
    COL(K, destructor, U64, 1, HEX | MW_COL_NULL0),
    COL(K, create_tid, U32, 1, 0),
    COL(K, bindings, U64, 1, 0),
    COL(K, create_ts, U64, 1, TIME),
    COL(K, delete_ts, U64, 1, TIME),
};
#undef K

#define B struct mw_binding_row
static const struct mw_col binding_columns[] = {
    COL(B, proc_id, U64, 1, KEY | HIDDEN),
    COL(B, pid, U32, 1, KEEP | HIDDEN),
    COL(B, tid, U32, 1, KEY | HIDDEN),
    COL(B, key, U32, 1, KEY),
    COL(B, generation, U32, 1, 0),
    COL(B, value, U64, 1, HEX),
    COL(B, block, U64, 1, 0),
    COL(B, size, U64, 1, 0),
    COL(B, set_ts, U64, 1, TIME),
};
#undef B

/* An upsert; a block written again first leaves the summaries as its
 * row was stored (store/store_write.c, store_usage.c). */
#define L struct mw_block_row
static const struct mw_col block_columns[] = {
    COL(L, serial, U64, 1, KEY),
    COL(L, proc_id, U64, 1, HIDDEN),
    COL(L, pid, U32, 1, 0),
    COL(L, tid, U32, 1, 0),
    COL(L, addr, U64, 1, HEX, .label = "address"),
    COL(L, size, U64, 1, 0),
    COL(L, ts, U64, 1, TIME),
    COL(L, site, U64, 1, MW_COL_SITE),
    COL(L, stack_id, U64, 2, HIDDEN),
};
#undef L

const char *mw_finding_state(const struct mw_finding_row *f)
{
	if (f->resolved_ts)
		return "resolved";
	if (f->ack_ts)
		return "acknowledged";
	if (f->suppressed[0])
		return "suppressed";
	return "open";
}

static const char *finding_state(const void *row, char *buf, size_t len)
{
	(void)buf;
	(void)len;
	return mw_finding_state(row);
}

/* A finding about a key has its generation, 1 or more; key 0 is a real
 * key, so a finding about none shows null, not 0. */
static int finding_has_key(const void *row)
{
	return ((const struct mw_finding_row *)row)->generation != 0;
}

#define F struct mw_finding_row
static const struct mw_col finding_columns[] = {
    COL(F, id, U64, 1, KEY),
    COL(F, kind, U32, 1, 0, .name_of = mw_finding_kind_name),
    COL(F, severity, U32, 2, 0, .name_of = mw_severity_name),
    /* Not stored: open, suppressed, acknowledged or resolved
     * (mw_finding_state). */
    {.name = "state",
     .type = MW_COL_TEXT,
     .flags = MW_COL_VIRTUAL,
     .derive = finding_state},
    COL(F, proc_id, U64, 1, KEEP | HIDDEN),
    COL(F, pid, U32, 1, KEEP),
    COL(F, tid, U32, 1, 0),
    COL(F, key, U32, 1, KEEP, .has = finding_has_key),
    COL(F, generation, U32, 1, KEEP, .has = finding_has_key),
    COL(F, addr, U64, 1, HEX, .label = "address"),
    COL(F, size, U64, 1, 0),
    COL(F, site, U64, 1, MW_COL_SITE),
    COL(F, stack_id, U64, 2, 0),
    COL(F, alloc_tid, U32, 1, 0),
    COL(F, alloc_ts, U64, 1, TIME),
    COL(F, trigger_ts, U64, 1, TIME),
    COL(F, found_ts, U64, 1, TIME),
    COL(F, count, U64, 2, 0),
    COL(F, bytes, U64, 2, 0),
    COL(F, threads, U32, 2, 0),
    COL(F, first_ts, U64, 2, TIME),
    COL(F, last_ts, U64, 2, TIME),
    COL(F, detail, MW_COL_TEXT, 2, 0),
    /* null while open. */
    COL(F, resolved_ts, U64, 9, TIME | MW_COL_NULL0),
    COL(F, resolved_reason, MW_COL_TEXT, 9, 0),
    /* The suppression rule that matched, "FILE:LINE"; "" none. */
    COL(F, suppressed, MW_COL_TEXT, 11, 0),
    /* Written by an ack alone: the engine's upserts keep them. null
     * until acknowledged. */
    COL(F, ack_ts, U64, 11, KEEP | TIME | MW_COL_NULL0),
    COL(F, ack_note, MW_COL_TEXT, 11, KEEP),
    COL(F, block, U64, 1, HIDDEN),
};
#undef F

#define S struct mw_stack_row
static const struct mw_col stack_columns[] = {
    COL(S, id, U64, 2, KEY),
    COL(S, proc_id, U64, 2, HIDDEN),
    COL(S, pid, U32, 2, 0),
    COL(S, flags, U32, 2, 0),
    /* Read back as the count of frames parsed. */
    COL(S, nframes, U32, 2, 0),
    COL(S, frames, MW_COL_FRAMES, 2, HEX, .count = offsetof(S, nframes)),
};
#undef S

#define I struct mw_site_row
static const struct mw_col site_columns[] = {
    COL(I, proc_id, U64, 1, KEY | HIDDEN),
    COL(I, ip, U64, 1, KEY | HEX),
    COL(I, function, MW_COL_TEXT, 1, 0),
    COL(I, offset, U64, 1, 0),
    COL(I, module, MW_COL_TEXT, 1, 0),
    COL(I, file, MW_COL_TEXT, 1, 0),
    COL(I, line, U32, 1, 0),
};
#undef I

const struct mw_row_desc mw_process_desc =
    DESC(struct mw_process_row, "processes", 0, process_columns);
const struct mw_row_desc mw_thread_desc =
    DESC(struct mw_thread_row, "threads", 0, thread_columns);
const struct mw_row_desc mw_key_desc =
    DESC(struct mw_key_row, "keys", 0, key_columns);
const struct mw_row_desc mw_binding_desc =
    DESC(struct mw_binding_row, "tls_bindings", 0, binding_columns);
const struct mw_row_desc mw_block_desc =
    DESC(struct mw_block_row, "live_blocks", 0, block_columns);
const struct mw_row_desc mw_finding_desc =
    DESC(struct mw_finding_row, "findings", 0, finding_columns);
const struct mw_row_desc mw_stack_desc =
    DESC(struct mw_stack_row, "stacks", MW_ROW_REPLACE, stack_columns);
const struct mw_row_desc mw_site_desc =
    DESC(struct mw_site_row, "sites", 0, site_columns);

const struct mw_row_desc *const mw_row_descs[] = {
    &mw_process_desc, &mw_thread_desc,	&mw_key_desc,	&mw_binding_desc,
    &mw_block_desc,   &mw_finding_desc, &mw_stack_desc, &mw_site_desc,
};
const size_t mw_row_descs_count =
    sizeof(mw_row_descs) / sizeof(mw_row_descs[0]);
