/*
 * engine_config.c - changing the engine's rule thresholds while it runs
 * (memwatchd's SIGHUP), without losing any state it holds.
 *
 * Every threshold is read where it is used, so a new value applies from
 * the next event or tick on. What was already scheduled keeps its time:
 * a candidate or an exited thread waiting out the old grace_ns or
 * orphan_age_ns is decided at its old deadline, and as the engine walks
 * those queues in order, one triggered after a lower value waits at most
 * until the ones ahead of it are due. Growth windows are judged on the
 * last growth_samples samples, which the engine always keeps
 * (ENGINE_MAX_SAMPLES), so a new window size applies at the next sample.
 *
 * Not changed: recent_frees (it sizes a ring allocated once) and the
 * callbacks with their context.
 */
#include <errno.h>

#include "engine.h"
#include "engine_int.h"

void engine_config__defaults(struct engine_config *c)
{
	if (!c->orphan_age_ns)
		c->orphan_age_ns = ENGINE_DEFAULT_ORPHAN_AGE_NS;
	if (!c->orphan_min_threads)
		c->orphan_min_threads = ENGINE_DEFAULT_ORPHAN_MIN_THREADS;
	if (!c->orphan_share || c->orphan_share > 100)
		c->orphan_share = ENGINE_DEFAULT_ORPHAN_SHARE;
	if (!c->orphan_share_medium || c->orphan_share_medium > 100)
		c->orphan_share_medium = ENGINE_DEFAULT_ORPHAN_SHARE_MEDIUM;
	if (c->growth_samples < 2 || c->growth_samples > ENGINE_MAX_SAMPLES)
		c->growth_samples = ENGINE_DEFAULT_GROWTH_SAMPLES;
	if (!c->sample_ns)
		c->sample_ns = ENGINE_DEFAULT_SAMPLE_NS;
	if (!c->growth_min_bytes)
		c->growth_min_bytes = ENGINE_DEFAULT_GROWTH_MIN_BYTES;
	if (!c->growth_horizon_ns)
		c->growth_horizon_ns = ENGINE_DEFAULT_GROWTH_HORIZON_NS;
	if (!c->recent_frees)
		c->recent_frees = ENGINE_DEFAULT_RECENT_FREES;
	if (!c->retention_min_bytes)
		c->retention_min_bytes = ENGINE_DEFAULT_RETENTION_MIN_BYTES;
}

int engine__set_config(struct engine *e, const struct engine_config *cfg)
{
	struct engine_config c = *cfg;

	if ((cfg->growth_samples &&
	     (cfg->growth_samples < 2 ||
	      cfg->growth_samples > ENGINE_MAX_SAMPLES)) ||
	    cfg->orphan_share > 100 || cfg->orphan_share_medium > 100)
		return -EINVAL;
	/* Zero takes the default, as in engine__new; grace, persist age
	 * and the flush bound mean what they say at zero. */
	c.recent_frees = e->cfg.recent_frees;
	c.classify = e->cfg.classify;
	c.internal = e->cfg.internal;
	c.classify_ctx = e->cfg.classify_ctx;
	engine_config__defaults(&c);
	e->cfg = c;
	return 0;
}
