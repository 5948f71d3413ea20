/*
 * elffile.h - what pprof's mappings need of a module's ELF file: its GNU
 * build id (the .note.gnu.build-id note), the loadable segment holding
 * a code address, and a symbol's address, so that memwatchctl's export
 * can give each mapping its build id, real range and file offset, and
 * Pyroscope, Parca or `go tool pprof` can symbolize the profile again.
 *
 * Read with plain stdio, ELF64 little-endian only (x86-64, arm64), so
 * that memwatchctl.exe builds it too (it reads no Linux module there:
 * every lookup fails and the mappings stay as before).
 * Errors are negative errnos: -ENOENT (no such file, symbol or note),
 * -ENOEXEC (not an ELF64 little-endian file, or a malformed one), what
 * reading gave.
 */
#ifndef MEMWATCH_ELFFILE_H
#define MEMWATCH_ELFFILE_H

#include <stddef.h>
#include <stdint.h>

struct elffile;

/* NULL and errno set when path cannot be opened or is no ELF64 LE file. */
struct elffile *elffile__open(const char *path);
void elffile__close(struct elffile *e);

/* The build id as lowercase hex in hex (room for 2 * 64 + 1 bytes). */
int elffile__build_id(struct elffile *e, char *hex, size_t len);

/* The value (link-time address) of the function symbol name, from
 * .symtab or else .dynsym. */
int elffile__symbol(struct elffile *e, const char *name, uint64_t *value);

/* The loadable segment holding link-time address vaddr, as the loader
 * maps it: [*start, *limit) in link-time addresses, page-aligned, from
 * file offset *offset. */
int elffile__segment(struct elffile *e, uint64_t vaddr, uint64_t *start,
		     uint64_t *limit, uint64_t *offset);

#endif
