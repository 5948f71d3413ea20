/*
 * elffile.c - see elffile.h.
 *
 * The ELF64 structures are read field by field at their offsets (the
 * System V ABI's), little-endian, instead of through <elf.h>, which
 * mingw lacks. Only the headers, the notes and the symbol tables are
 * read, never the whole file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elffile.h"

enum {
	EHDR_SIZE = 64,
	PHDR_SIZE = 56,
	SHDR_SIZE = 64,
	SYM_SIZE = 24,
	PT_LOAD = 1,
	PT_NOTE = 4,
	SHT_SYMTAB = 2,
	SHT_DYNSYM = 11,
	STT_FUNC = 2,
	STT_GNU_IFUNC = 10,
	NT_GNU_BUILD_ID = 3,
	PAGE = 4096,
};

struct elffile {
	FILE *f;
	uint64_t phoff, shoff;
	uint16_t phnum, shnum;
};

static uint64_t le(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* n bytes at offset off into buf. */
static int read_at(struct elffile *e, uint64_t off, void *buf, size_t n)
{
	if (off > (uint64_t)INT64_MAX || fseeko(e->f, (off_t)off, SEEK_SET))
		return -ENOEXEC;
	if (fread(buf, 1, n, e->f) != n)
		return ferror(e->f) ? -EIO : -ENOEXEC;
	return 0;
}

struct elffile *elffile__open(const char *path)
{
	unsigned char h[EHDR_SIZE];
	struct elffile *e = calloc(1, sizeof(*e));

	if (!e) {
		errno = ENOMEM;
		return NULL;
	}
	if (!(e->f = fopen(path, "rb"))) {
		int saved = errno;

		free(e);
		errno = saved;
		return NULL;
	}
	/* "\177ELF", ELFCLASS64, ELFDATA2LSB. */
	if (read_at(e, 0, h, sizeof(h)) || memcmp(h, "\177ELF", 4) ||
	    h[4] != 2 || h[5] != 1 || le(h + 54, 2) != PHDR_SIZE ||
	    (le(h + 60, 2) && le(h + 58, 2) != SHDR_SIZE)) {
		elffile__close(e);
		errno = ENOEXEC;
		return NULL;
	}
	e->phoff = le(h + 32, 8);
	e->shoff = le(h + 40, 8);
	e->phnum = (uint16_t)le(h + 56, 2);
	e->shnum = (uint16_t)le(h + 60, 2);
	return e;
}

void elffile__close(struct elffile *e)
{
	if (!e)
		return;
	fclose(e->f);
	free(e);
}

/* Program header i: its type, flags, offset, vaddr, filesz, memsz. */
struct phdr {
	uint32_t type, flags;
	uint64_t offset, vaddr, filesz, memsz;
};

static int phdr(struct elffile *e, uint16_t i, struct phdr *p)
{
	unsigned char b[PHDR_SIZE];
	int err;

	if ((err = read_at(e, e->phoff + (uint64_t)i * PHDR_SIZE, b,
			   sizeof(b))))
		return err;
	*p = (struct phdr){(uint32_t)le(b, 4),	 (uint32_t)le(b + 4, 4),
			   le(b + 8, 8),	 le(b + 16, 8),
			   le(b + 32, 8),	 le(b + 40, 8)};
	return 0;
}

int elffile__build_id(struct elffile *e, char *hex, size_t len)
{
	/* A PT_NOTE segment's notes: namesz, descsz, type, then the name
	 * and the descriptor, each padded to 4 bytes. */
	for (uint16_t i = 0; i < e->phnum; i++) {
		struct phdr p;
		unsigned char n[12 + 4 + 64];
		uint64_t at, end;
		int err;

		if ((err = phdr(e, i, &p)))
			return err;
		if (p.type != PT_NOTE)
			continue;
		for (at = p.offset, end = p.offset + p.filesz; at + 12 <= end;) {
			uint64_t namesz, descsz, type;

			if ((err = read_at(e, at, n, 12)))
				return err;
			namesz = le(n, 4);
			descsz = le(n + 4, 4);
			type = le(n + 8, 4);
			if (type == NT_GNU_BUILD_ID && namesz == 4 && descsz &&
			    descsz <= 64 && 2 * descsz + 1 <= len) {
				if ((err = read_at(e, at + 12, n + 12,
						   4 + descsz)))
					return err;
				if (memcmp(n + 12, "GNU", 4))
					goto next;
				for (uint64_t k = 0; k < descsz; k++)
					snprintf(hex + 2 * k, 3, "%02x",
						 n[16 + k]);
				return 0;
			}
next:
			at += 12 + ((namesz + 3) & ~3ull) + ((descsz + 3) & ~3ull);
		}
	}
	return -ENOENT;
}

/* The section's bytes, read whole into *buf (freed by the caller). */
static int section(struct elffile *e, const unsigned char *sh, unsigned char **buf,
		   uint64_t *size)
{
	int err;

	*size = le(sh + 32, 8);
	if (*size > (64u << 20))
		return -ENOEXEC;
	if (!(*buf = malloc(*size ? *size : 1)))
		return -ENOMEM;
	if ((err = read_at(e, le(sh + 24, 8), *buf, *size))) {
		free(*buf);
		*buf = NULL;
	}
	return err;
}

/* The function symbol name in the symbol tables of section type `type`
 * (each with its string table, sh_link), read whole. */
static int find_in(struct elffile *e, uint32_t type, const char *name,
		   uint64_t *value)
{
	size_t want = strlen(name) + 1;
	int err = -ENOENT;

	for (uint16_t i = 0; i < e->shnum && err == -ENOENT; i++) {
		unsigned char s[SHDR_SIZE], l[SHDR_SIZE];
		unsigned char *syms = NULL, *strs = NULL;
		uint64_t nsyms, nstrs;

		if ((err = read_at(e, e->shoff + (uint64_t)i * SHDR_SIZE, s,
				   sizeof(s))))
			break;
		err = -ENOENT;
		if (le(s + 4, 4) != type || le(s + 40, 4) >= e->shnum)
			continue;
		if ((err = read_at(e, e->shoff + le(s + 40, 4) * SHDR_SIZE, l,
				   sizeof(l))) ||
		    (err = section(e, s, &syms, &nsyms)) ||
		    (err = section(e, l, &strs, &nstrs)))
			goto cleanup;
		err = -ENOENT;
		for (uint64_t at = 0; at + SYM_SIZE <= nsyms; at += SYM_SIZE) {
			const unsigned char *sym = syms + at;
			uint64_t nm = le(sym, 4);
			unsigned kind = sym[4] & 0xf;

			if ((kind == STT_FUNC || kind == STT_GNU_IFUNC) &&
			    le(sym + 8, 8) && nm + want <= nstrs &&
			    !memcmp(strs + nm, name, want)) {
				*value = le(sym + 8, 8);
				err = 0;
				break;
			}
		}
cleanup:
		free(syms);
		free(strs);
	}
	return err;
}

int elffile__symbol(struct elffile *e, const char *name, uint64_t *value)
{
	int err = find_in(e, SHT_SYMTAB, name, value);

	return err == -ENOENT ? find_in(e, SHT_DYNSYM, name, value) : err;
}

int elffile__segment(struct elffile *e, uint64_t vaddr, uint64_t *start,
		     uint64_t *limit, uint64_t *offset)
{
	for (uint16_t i = 0; i < e->phnum; i++) {
		struct phdr p;
		int err;

		if ((err = phdr(e, i, &p)))
			return err;
		if (p.type != PT_LOAD || vaddr < p.vaddr ||
		    vaddr >= p.vaddr + p.memsz)
			continue;
		/* As the loader maps it (and /proc/PID/maps shows it): from
		 * the page holding its start, at that page's file offset. */
		*start = p.vaddr & ~(uint64_t)(PAGE - 1);
		*limit = (p.vaddr + p.memsz + PAGE - 1) & ~(uint64_t)(PAGE - 1);
		*offset = p.offset & ~(uint64_t)(PAGE - 1);
		return 0;
	}
	return -ENOENT;
}
