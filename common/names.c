/* names.c - names of event types, finding kinds and states, for output. */
#include <errno.h>
#include <string.h>

#include "event.h"
#include "rows.h"

static const char *const event_names[MW_EV_TYPE_MAX] = {
	[MW_EV_ALLOC] = "alloc",
	[MW_EV_FREE] = "free",
	[MW_EV_REALLOC] = "realloc",
	[MW_EV_THREAD_START] = "thread_start",
	[MW_EV_THREAD_EXIT] = "thread_exit",
	[MW_EV_PROC_EXIT] = "proc_exit",
	[MW_EV_EXEC] = "exec",
	[MW_EV_KEY_CREATE] = "key_create",
	[MW_EV_KEY_DELETE] = "key_delete",
	[MW_EV_TLS_SET] = "tls_set",
	[MW_EV_LOST] = "lost",
	[MW_EV_MODULE_LOAD] = "module_load",
	[MW_EV_MODULE_UNLOAD] = "module_unload",
	[MW_EV_MODULE_UNLOADED] = "module_unloaded",
	[MW_EV_MMAP] = "mmap",
	[MW_EV_MUNMAP] = "munmap",
	[MW_EV_BRK] = "brk",
	[MW_EV_MREMAP] = "mremap",
	[MW_EV_SPAWN] = "spawn",
	[MW_EV_POOL_OVERLAP] = "pool_overlap",
};

static const char *const kind_names[MW_FIND_KIND_MAX] = {
	[MW_FIND_TLS_OUTLIVED_THREAD] = "tls-outlived-thread",
	[MW_FIND_TLS_OUTLIVED_KEY] = "tls-outlived-key",
	[MW_FIND_TLS_OVERWRITTEN] = "tls-overwritten",
	[MW_FIND_THREAD_ORPHAN] = "thread-orphan",
	[MW_FIND_TLS_OUTLIVED_MODULE] = "tls-outlived-module",
	[MW_FIND_THREAD_GROWTH] = "thread-growth",
	[MW_FIND_SITE_GROWTH] = "site-growth",
	[MW_FIND_ALLOCATOR_RETENTION] = "allocator-retention",
	[MW_FIND_BAD_FREE] = "bad-free",
	[MW_FIND_ALLOCATOR_RACE] = "allocator-race",
};

const char *mw_event_type_name(uint32_t type)
{
	if (type < MW_EV_TYPE_MAX && event_names[type])
		return event_names[type];
	return "unknown";
}

const char *mw_finding_kind_name(uint32_t kind)
{
	if (kind < MW_FIND_KIND_MAX && kind_names[kind])
		return kind_names[kind];
	return "unknown";
}

int mw_finding_kind_parse(const char *name)
{
	for (int i = 1; i < MW_FIND_KIND_MAX; i++)
		if (kind_names[i] && !strcmp(kind_names[i], name))
			return i;
	return -EINVAL;
}

const char *mw_proc_state_name(uint32_t state)
{
	switch (state) {
	case MW_PROC_TRACING:
		return "tracing";
	case MW_PROC_EXITED:
		return "exited";
	case MW_PROC_DETACHED:
		return "detached";
	}
	return "unknown";
}

const char *mw_thread_state_name(uint32_t state)
{
	switch (state) {
	case MW_THREAD_ALIVE:
		return "alive";
	case MW_THREAD_EXITED:
		return "exited";
	case MW_THREAD_GONE:
		return "gone";
	}
	return "unknown";
}

const char *mw_key_state_name(uint32_t state)
{
	switch (state) {
	case MW_KEY_LIVE:
		return "live";
	case MW_KEY_DELETED:
		return "deleted";
	}
	return "unknown";
}

static const char *const severity_names[] = {
	[MW_SEV_LOW] = "low",
	[MW_SEV_MEDIUM] = "medium",
	[MW_SEV_HIGH] = "high",
};

#define NSEV (sizeof(severity_names) / sizeof(severity_names[0]))

const char *mw_severity_name(uint32_t sev)
{
	if (sev < NSEV && severity_names[sev])
		return severity_names[sev];
	return "unknown";
}

int mw_severity_parse(const char *name)
{
	for (size_t i = 1; i < NSEV; i++)
		if (!strcmp(severity_names[i], name))
			return (int)i;
	return -EINVAL;
}

const char *mw_mode_name(uint32_t mode)
{
	switch (mode) {
	case MW_MODE_FULL:
		return "full";
	case MW_MODE_TLS:
		return "tls";
	}
	return "unknown";
}

const char *mw_wrap_why_name(uint32_t why)
{
	switch (why) {
	case MW_WRAP_BUILTIN:
		return "built-in";
	case MW_WRAP_USER:
		return "--wrapper";
	case MW_WRAP_AUTO:
		return "automatic";
	default:
		return "";
	}
}
