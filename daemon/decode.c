/*
 * decode.c - ring-buffer records to normalized events; see decode.h.
 * No OS calls: the collector (collector.c) adds what needs the files of
 * the traced process (a module's extent).
 */
#include <errno.h>
#include <string.h>

#include "decode.h"

_Static_assert(MW_MAX_FRAMES == MW_EV_MAX_FRAMES,
	       "the BPF ABI and the normalized event agree on stack depth");
_Static_assert(MW_COMM_LEN == MW_COMM_MAX,
	       "the BPF ABI and the normalized event agree on comm length");

/* Record types map one to one onto event types; keep the table here so
 * the BPF ABI can change without touching the engine. */
static const uint32_t rec_to_event[] = {
    [MW_REC_ALLOC] = MW_EV_ALLOC,
    [MW_REC_FREE] = MW_EV_FREE,
    [MW_REC_REALLOC] = MW_EV_REALLOC,
    [MW_REC_THREAD_START] = MW_EV_THREAD_START,
    [MW_REC_THREAD_EXIT] = MW_EV_THREAD_EXIT,
    [MW_REC_PROC_EXIT] = MW_EV_PROC_EXIT,
    [MW_REC_EXEC] = MW_EV_EXEC,
    [MW_REC_KEY_CREATE] = MW_EV_KEY_CREATE,
    [MW_REC_KEY_DELETE] = MW_EV_KEY_DELETE,
    [MW_REC_TLS_SET] = MW_EV_TLS_SET,
    [MW_REC_MODULE_LOAD] = MW_EV_MODULE_LOAD,
    [MW_REC_MODULE_UNLOAD] = MW_EV_MODULE_UNLOAD,
    [MW_REC_MODULE_UNLOADED] = MW_EV_MODULE_UNLOADED,
    [MW_REC_MMAP] = MW_EV_MMAP,
    [MW_REC_MUNMAP] = MW_EV_MUNMAP,
    [MW_REC_BRK] = MW_EV_BRK,
    [MW_REC_MREMAP] = MW_EV_MREMAP,
    [MW_REC_SPAWN] = MW_EV_SPAWN,
    [MW_REC_POOL_OVERLAP] = MW_EV_POOL_OVERLAP,
};

static void copy_comm(char *dst, const char *src)
{
	memcpy(dst, src, MW_COMM_MAX);
	dst[MW_COMM_MAX - 1] = '\0';
}

/*
 * The stack of an allocation a wrapper made for its caller, into
 * buf->frames: frames[0] is inside the wrapper; the caller's call site
 * (site) takes its place. A wrapper that keeps a frame pointer has the
 * walk find that site itself as frames[1]: then it is not repeated.
 * Returns the new count, at most n.
 */
static uint32_t unwrap(struct decode_buf *buf, uint64_t site,
		       const uint64_t *frames, uint32_t n)
{
	uint32_t from = n > 1 && frames[1] == site ? 2 : 1, k = 0;

	buf->frames[k++] = site;
	for (uint32_t i = from; i < n; i++)
		buf->frames[k++] = frames[i];
	return k;
}

void decode__frames(struct decode_buf *buf, struct mw_event *ev,
		    const uint64_t *frames, uint32_t n, bool wrapped)
{
	if (n > MW_MAX_FRAMES)
		n = MW_MAX_FRAMES;
	ev->frames = frames;
	ev->nframes = n;
	if (wrapped && n) {
		/* unwrap() writes buf->frames: never from itself. */
		if (frames == buf->frames) {
			memcpy(buf->stack, frames, n * sizeof(*frames));
			frames = buf->stack;
		}
		ev->nframes = unwrap(buf, ev->site, frames, n);
		ev->frames = buf->frames;
	}
}

int decode__record(const void *data, size_t size, uint64_t wall_offset,
		   struct decode_buf *buf, struct mw_event *ev)
{
	const struct mw_record *r = data;

	/* Only a keyed allocation record carries a stack copy: no other
	 * record (nor a refused one) may leave the last one's behind. */
	buf->unwind = NULL;
	buf->copy_len = 0;
	if (size < sizeof(*r) || !r->type ||
	    r->type >= sizeof(rec_to_event) / sizeof(rec_to_event[0]))
		return -EINVAL;
	memset(ev, 0, sizeof(*ev));
	ev->type = rec_to_event[r->type];
	ev->pid = r->pid;
	ev->tid = r->tid;
	ev->flags = (r->flags & MW_RECF_GROUP_EXIT) ? MW_EVF_GROUP_EXIT : 0;
	ev->ts = r->ts + wall_offset;
	ev->addr = r->addr;
	ev->size = r->size;
	ev->old_addr = r->old_addr;
	ev->site = r->site;
	ev->key = r->key;
	ev->code = r->code;
	copy_comm(ev->comm, r->comm);
	if ((r->type == MW_REC_MODULE_LOAD ||
	     r->type == MW_REC_MODULE_UNLOAD) &&
	    size >= sizeof(struct mw_path_record)) {
		/* A private copy: the path must end inside it. */
		memcpy(&buf->module, data, sizeof(buf->module));
		buf->module.path[MW_PATH_LEN - 1] = '\0';
		ev->addr = 0;
		ev->path = buf->module.path;
		return 0;
	}
	if (r->type == MW_REC_MREMAP) {
		/* The ABI carries the old length in site. */
		ev->count = r->site;
		ev->site = 0;
	}
	if (r->type == MW_REC_MODULE_UNLOADED && (r->flags & MW_RECF_UNMAPPED))
		ev->flags |= MW_EVF_UNMAPPED;
	if (r->flags & MW_RECF_SIZED)
		ev->flags |= MW_EVF_SIZED;
	if (r->type == MW_REC_TLS_SET && (r->flags & MW_RECF_LINK_CHECKED))
		ev->flags |= MW_EVF_LINK_CHECKED;
	if (r->type == MW_REC_SPAWN) {
		ev->code = 0;
		if ((r->code & MW_TARGET_MODE) == MW_TARGET_TLS)
			ev->flags |= MW_EVF_TLS_ONLY;
	}
	if (r->type == MW_REC_FREE && (r->flags & MW_RECF_POOL))
		ev->flags |= MW_EVF_POOL;
	if (r->type == MW_REC_POOL_OVERLAP) {
		ev->flags |= (r->flags & MW_RECF_LOCKED ? MW_EVF_LOCKED : 0) |
			     (r->flags & MW_RECF_BLOCKED ? MW_EVF_BLOCKED : 0) |
			     (r->flags & MW_RECF_DELEGATED ? MW_EVF_DELEGATED
							   : 0) |
			     (r->flags & MW_RECF_WATCHED ? MW_EVF_WATCHED : 0);
		/* The two call sites, as a stack the store symbolizes. */
		buf->frames[0] = r->site;
		buf->frames[1] = r->old_addr;
		ev->frames = buf->frames;
		ev->nframes = 2;
		ev->code = r->code & 0xff;
		return 0;
	}
	/* A keyed record too short for its head is read as a plain one:
	 * a record of a known type is never refused. */
	if ((r->type == MW_REC_ALLOC || r->type == MW_REC_REALLOC) &&
	    (r->flags & MW_RECF_STACK_KEY) &&
	    size >= offsetof(struct mw_unwind_record, stack)) {
		const struct mw_unwind_record *u = data;
		size_t head = offsetof(struct mw_unwind_record, stack);

		buf->unwind = u;
		/* The copy that arrived, whatever it claims. */
		if (r->flags & MW_RECF_STACK_COPY)
			buf->copy_len = u->copy_len < size - head
					    ? u->copy_len
					    : (uint32_t)(size - head);
		decode__frames(buf, ev, (const uint64_t *)u->frames,
			       r->nframes < MW_MAX_FRAMES ? r->nframes
							  : MW_MAX_FRAMES,
			       r->flags & MW_RECF_WRAPPED);
		return 0;
	}
	if (r->type == MW_REC_ALLOC || r->type == MW_REC_REALLOC ||
	    (r->type == MW_REC_TLS_SET && (r->flags & MW_RECF_SIZED))) {
		const struct mw_stack_record *s = data;
		size_t n = (size - sizeof(*r)) / sizeof(uint64_t);

		/* Trust the length we got, not the count it claims. */
		if (n > r->nframes)
			n = r->nframes;
		ev->nframes = (uint32_t)(n < MW_MAX_FRAMES ? n : MW_MAX_FRAMES);
		/* __u64 and uint64_t are the same width, other types. */
		ev->frames = (const uint64_t *)s->frames;
		if ((r->flags & MW_RECF_WRAPPED) && ev->nframes) {
			ev->nframes =
			    unwrap(buf, r->site, ev->frames, ev->nframes);
			ev->frames = buf->frames;
		}
	}
	return 0;
}
