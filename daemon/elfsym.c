/* elfsym.c - see elfsym.h. Reads .symtab and .dynsym with libelf. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <string.h>
#include <unistd.h>

#include "elfsym.h"

/* A symbol's address to a file offset through the PT_LOAD holding it. */
static uint64_t vaddr_to_offset(Elf *elf, uint64_t vaddr)
{
	size_t nph;

	if (elf_getphdrnum(elf, &nph))
		return 0;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_filesz)
			return vaddr - ph.p_vaddr + ph.p_offset;
	}
	return 0;
}

static void scan_section(Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh,
			 const char *const *names, int n, uint64_t *offsets)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t count;

	if (!data || !sh->sh_entsize)
		return;
	count = sh->sh_size / sh->sh_entsize;
	for (size_t i = 0; i < count; i++) {
		GElf_Sym sym;
		const char *name;

		if (!gelf_getsym(data, (int)i, &sym) ||
		    GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
		    sym.st_shndx == SHN_UNDEF || !sym.st_value)
			continue;
		name = elf_strptr(elf, sh->sh_link, sym.st_name);
		if (!name)
			continue;
		for (int j = 0; j < n; j++)
			if (!offsets[j] && !strcmp(name, names[j]))
				offsets[j] = vaddr_to_offset(elf, sym.st_value);
	}
}

static int elf_open(const char *path, int *fd, Elf **elf)
{
	/* Set on every path: callers read them only on success, but an
	 * errno of 0 would make -errno look like one. */
	*fd = -1;
	*elf = NULL;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return -errno;
	*elf = elf_begin(*fd, ELF_C_READ, NULL);
	if (!*elf || elf_kind(*elf) != ELF_K_ELF) {
		if (*elf)
			elf_end(*elf);
		close(*fd);
		return -ENOEXEC;
	}
	return 0;
}

int elfsym__layout(const char *path, uint64_t *lo, uint64_t *hi)
{
	size_t nph;
	Elf *elf;
	int fd, err;

	*lo = UINT64_MAX;
	*hi = 0;
	if ((err = elf_open(path, &fd, &elf)))
		return err;
	if (elf_getphdrnum(elf, &nph))
		nph = 0;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph))
			continue;
		if (ph.p_type != PT_LOAD)
			continue;
		if (ph.p_vaddr < *lo)
			*lo = ph.p_vaddr & ~0xfffull;
		if (ph.p_vaddr + ph.p_memsz > *hi)
			*hi = ph.p_vaddr + ph.p_memsz;
	}
	elf_end(elf);
	close(fd);
	return *hi > *lo ? 0 : -ENOEXEC;
}

int elfsym__resolve(const char *path, const char *const *names, int n,
		    uint64_t *offsets)
{
	Elf_Scn *scn = NULL;
	Elf *elf;
	int fd, err;

	memset(offsets, 0, sizeof(*offsets) * (size_t)n);
	if ((err = elf_open(path, &fd, &elf)))
		return err;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) &&
		    (sh.sh_type == SHT_SYMTAB || sh.sh_type == SHT_DYNSYM))
			scan_section(elf, scn, &sh, names, n, offsets);
	}
	elf_end(elf);
	close(fd);
	return 0;
}

int elfsym__each_needed(const char *path, int (*cb)(void *ctx, const char *name),
			void *ctx)
{
	Elf_Scn *scn = NULL;
	Elf *elf;
	int fd, err, stop = 0;

	if ((err = elf_open(path, &fd, &elf)))
		return err;
	while (!stop && (scn = elf_nextscn(elf, scn))) {
		Elf_Data *data;
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNAMIC ||
		    !sh.sh_entsize || !(data = elf_getdata(scn, NULL)))
			continue;
		for (size_t i = 0; !stop && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Dyn dyn;
			const char *name;

			if (!gelf_getdyn(data, (int)i, &dyn) ||
			    dyn.d_tag != DT_NEEDED)
				continue;
			name = elf_strptr(elf, sh.sh_link, dyn.d_un.d_val);
			if (name)
				stop = cb(ctx, name);
		}
	}
	elf_end(elf);
	close(fd);
	return 0;
}

int elfsym__object(const char *path, const char *name, uint64_t *vaddr)
{
	Elf_Scn *scn = NULL;
	Elf *elf;
	int fd, err;

	*vaddr = 0;
	if ((err = elf_open(path, &fd, &elf)))
		return err;
	while (!*vaddr && (scn = elf_nextscn(elf, scn))) {
		Elf_Data *data;
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh) ||
		    (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) ||
		    !sh.sh_entsize || !(data = elf_getdata(scn, NULL)))
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *n;

			if (!gelf_getsym(data, (int)i, &sym) ||
			    GELF_ST_TYPE(sym.st_info) != STT_OBJECT ||
			    sym.st_shndx == SHN_UNDEF)
				continue;
			n = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (n && !strcmp(n, name)) {
				*vaddr = sym.st_value;
				break;
			}
		}
	}
	elf_end(elf);
	close(fd);
	return *vaddr ? 0 : -ENOENT;
}

int elfsym__dynamic(const char *path)
{
	size_t nph = 0;
	int fd, err, dyn = 0;
	Elf *elf;

	if ((err = elf_open(path, &fd, &elf)))
		return err;
	if (elf_getphdrnum(elf, &nph))
		nph = 0;
	for (size_t i = 0; i < nph && !dyn; i++) {
		GElf_Phdr ph;

		dyn = gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_INTERP;
	}
	elf_end(elf);
	close(fd);
	return dyn;
}
