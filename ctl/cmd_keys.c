/*
 * cmd_keys.c - memwatchctl keys: pthread keys and how many bindings each
 * has.
 */
#include <inttypes.h>
#include <stdio.h>

#include "ctl.h"
#include "rowfmt.h"

static int key_cb(void *ctx, const struct mw_key_row *r)
{
	struct table *t = ctx;

	if (opt.json) {
		rowfmt__json(&J, &mw_key_desc, r, NULL);
	} else {
		char pid[16], key[16], gen[16], dtor[24], b[24], cts[32],
		    dts[32];

		snprintf(pid, sizeof(pid), "%u", r->pid);
		snprintf(key, sizeof(key), "%u", r->key);
		snprintf(gen, sizeof(gen), "%u", r->generation);
		if (r->destructor)
			snprintf(dtor, sizeof(dtor), "0x%" PRIx64,
				 r->destructor);
		else
			snprintf(dtor, sizeof(dtor), "-");
		snprintf(b, sizeof(b), "%" PRIu64, r->bindings);
		output__time(cts, sizeof(cts), r->create_ts);
		output__time(dts, sizeof(dts), r->delete_ts);
		table__row(t, pid, key, gen, mw_key_state_name(r->state), dtor,
			   b, cts, dts);
	}
	return 0;
}

int cmd_keys(int argc, char **argv)
{
	struct table t = {.ncols = 8,
			  .head = {"PID", "KEY", "GEN", "STATE", "DESTRUCTOR",
				   "BINDINGS", "CREATED", "DELETED"}};
	struct store *s;
	int err;

	ctl__no_args("keys", argc);
	s = ctl__open_db();
	output__list_begin();
	err = store__each_key(s, &opt.filter, key_cb, &t);
	store__close(s);
	output__list_end(&t, err);
	return 0;
}
