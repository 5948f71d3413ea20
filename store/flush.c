/* flush.c - the engine's rows into the store, a flush at a time; see
 * flush.h. */
#include "flush.h"

int flusher__flush(struct flusher *f, uint64_t now)
{
	void *ctx = f->sink.ctx;
	int err;

	if (f->begin)
		f->begin(ctx);
	err = engine__flush(f->engine, now, &store_sink, &f->sink);
	if (f->end)
		f->end(ctx, err);
	/* Once per state: the engine keeps everything and the next flush
	 * tries again. */
	if (err != f->err && f->changed)
		f->changed(ctx, err);
	f->err = err;
	return err;
}

int flusher__flush_all(struct flusher *f, uint64_t now)
{
	int err;

	do
		err = flusher__flush(f, now);
	while (!err && engine__flush_more(f->engine));
	return err;
}
