/*
 * symindex.h - one ELF module's symbols sorted by address, for fast
 * address-to-function lookups.
 *
 * libdwfl answers dwfl_module_addrinfo by scanning the whole symbol table
 * each time: with libjvm.so (some 60,000 symbols) and thousands of call
 * sites that was seconds of the daemon's loop per flush. The index is
 * built once per file and answers in O(log n), choosing among symbols as
 * libdwfl does (see symindex.c); what it cannot decide it leaves to
 * libdwfl (a NULL answer with *decided false).
 */
#ifndef MEMWATCH_SYMINDEX_H
#define MEMWATCH_SYMINDEX_H

#include <elfutils/libdwfl.h>
#include <stdbool.h>
#include <stdint.h>

struct symindex;

/* NULL with errno set when out of memory or mod has no symbol table. */
struct symindex *symindex__new(Dwfl_Module *mod);
void symindex__free(struct symindex *x);
/* The name of the symbol that covers addr (a module address, as
 * dwfl_module_addrinfo takes it), its offset in *off. NULL with *decided
 * true: no symbol covers addr; with *decided false: ask libdwfl (a
 * sizeless symbol is in the way). The name lives as long as mod. */
const char *symindex__find(const struct symindex *x, uint64_t addr,
			   uint64_t *off, bool *decided);
/* The same, with the symbol's size in *size when one is named (for
 * wrapper.c: a wrapper is a small function). */
const char *symindex__find_sized(const struct symindex *x, uint64_t addr,
				 uint64_t *off, uint64_t *size, bool *decided);
/* The same, decided: what the index cannot tell is libdwfl's answer,
 * kept (its search goes through the whole table, and a large program,
 * node's 98 MB with V8's sizeless builtins, asks for the same few
 * addresses from every new stack). mod is the module x was made of. */
const char *symindex__name(struct symindex *x, Dwfl_Module *mod,
			   uint64_t addr, uint64_t *off, uint64_t *size);

#endif
