/*
 * winsym.h - names of code addresses in traced Windows processes, through
 * dbghelp, for the TLS classifier (win/wintls.h) and the site rows of the
 * store. Windows only.
 *
 * Modules are loaded into dbghelp from the decoder's module table (their
 * path, base and size from ImageLoad events or the process's module
 * list), not by reading the live process: a site is still named after
 * its process exited or its DLL was unloaded. Symbols come from the PDBs
 * next to the images, or a symbol server named by _NT_SYMBOL_PATH.
 * dbghelp is single-threaded: call from one thread only.
 */
#ifndef MEMWATCH_WINSYM_H
#define MEMWATCH_WINSYM_H

#include <stdint.h>

#include "etw_decode.h"
#include "rows.h"

struct winsym;

struct winsym *winsym__new(const struct etw_decoder *modules);
void winsym__free(struct winsym *w);
/* A wintls_name_fn: the function at ip, valid until the next call. */
const char *winsym__name(void *w, uint32_t pid, uint64_t ip);
/* Fill module, function, offset, file and line of row->ip. */
void winsym__resolve(struct winsym *w, uint32_t pid, struct mw_site_row *row);
/* Forget pid (its rows are all flushed). */
void winsym__forget(struct winsym *w, uint32_t pid);

#endif
