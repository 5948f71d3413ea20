/*
 * fuzz_decode.c - libFuzzer harness of the collector's decoding of
 * ring-buffer records (daemon/decode.c): the input is one record, as the
 * ring buffer would hand it, of any length.
 *
 * decode__record must never read outside the record or its buffer (ASan
 * watches every byte; the record is copied to a heap block of exactly its
 * length), and what it makes must be an event the engine can take:
 *  - it refuses exactly the records shorter than struct mw_record or of
 *    an unknown type, and decodes every other;
 *  - the event's type is a real one, its comm is NUL-terminated;
 *  - its frames lie inside the record (after the fixed part) or inside
 *    the decode buffer, never more than MW_EV_MAX_FRAMES of them;
 *  - its path, if any, is the buffer's copy, NUL-terminated inside it;
 *  - the event's time is the record's plus the wall offset.
 * A harness found violation calls abort(), which libFuzzer reports.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

#define WALL_OFFSET 1700000000000000000ull

static void __attribute__((noreturn)) violated(const char *what)
{
	fprintf(stderr, "fuzz_decode: %s\n", what);
	abort();
}

static bool inside(const void *p, size_t n, const void *base, size_t len)
{
	const char *c = p, *b = base;

	return c >= b && c <= b + len && n <= (size_t)(b + len - c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct decode_buf buf;
	struct mw_record hdr;
	struct mw_event ev;
	volatile uint64_t sink = 0;
	bool known;
	void *rec;
	int err;

	/* The ring buffer hands records 8-byte aligned, as malloc does. */
	rec = malloc(size ? size : 1);
	if (!rec)
		return 0;
	memcpy(rec, data, size);
	err = decode__record(rec, size, WALL_OFFSET, &buf, &ev);
	if (size < sizeof(hdr)) {
		if (!err)
			violated("decoded a record shorter than its header");
		goto out;
	}
	memcpy(&hdr, data, sizeof(hdr));
	known = hdr.type >= MW_REC_ALLOC && hdr.type <= MW_REC_POOL_OVERLAP;
	if (known != !err)
		violated(err ? "refused a record of a known type"
			     : "decoded a record of an unknown type");
	if (err)
		goto out;
	if (!ev.type || ev.type >= MW_EV_TYPE_MAX || ev.type == MW_EV_LOST)
		violated("event of no real type");
	if (ev.pid != hdr.pid || ev.tid != hdr.tid)
		violated("pid or tid changed");
	if (ev.ts != hdr.ts + WALL_OFFSET)
		violated("time not mapped by the wall offset");
	if (!memchr(ev.comm, '\0', sizeof(ev.comm)))
		violated("comm not NUL-terminated");
	if (ev.nframes > MW_EV_MAX_FRAMES)
		violated("more frames than an event holds");
	if (ev.nframes) {
		size_t n = ev.nframes * sizeof(uint64_t);
		const char *after = (const char *)rec + sizeof(hdr);

		if (!ev.frames ||
		    !(inside(ev.frames, n, after, size - sizeof(hdr)) ||
		      inside(ev.frames, n, buf.frames, sizeof(buf.frames))))
			violated("frames outside the record and the buffer");
		for (uint32_t i = 0; i < ev.nframes; i++)
			sink += ev.frames[i];
	}
	if (ev.path) {
		if (!inside(ev.path, 1, buf.module.path,
			    sizeof(buf.module.path)) ||
		    !memchr(ev.path, '\0',
			    sizeof(buf.module.path) -
				(size_t)(ev.path - buf.module.path)))
			violated("path not the buffer's NUL-terminated copy");
		if (ev.type != MW_EV_MODULE_LOAD &&
		    ev.type != MW_EV_MODULE_UNLOAD)
			violated("path on an event that is no module's");
	}
out:
	free(rec);
	(void)sink;
	return 0;
}
