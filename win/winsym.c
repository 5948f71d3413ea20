/*
 * winsym.c - dbghelp symbols for the Windows collector (see winsym.h).
 *
 * dbghelp keys its state by a process handle that it only compares when
 * it is not asked to read memory: each traced pid gets a distinct fake
 * handle (the pid shifted, never a real handle value), initialized with
 * fInvadeProcess FALSE, and its modules are loaded from their files.
 */
#include <windows.h>
#include <dbghelp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "winsym.h"

#define MAX_PROCS 64
#define MAX_MODS 512

struct wproc {
	uint32_t pid;
	HANDLE h;
	uint64_t loaded[MAX_MODS]; /* module bases given to dbghelp */
	size_t nloaded;
};

struct winsym {
	const struct etw_decoder *mods;
	struct wproc procs[MAX_PROCS];
	size_t nprocs;
	char name[MW_SITE_STR];
	union {
		SYMBOL_INFOW info;
		char buf[sizeof(SYMBOL_INFOW) + MAX_SYM_NAME * sizeof(WCHAR)];
	} sym;
};

struct winsym *winsym__new(const struct etw_decoder *modules)
{
	struct winsym *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->mods = modules;
	SymSetOptions(SYMOPT_UNDNAME | SYMOPT_DEFERRED_LOADS |
		      SYMOPT_FAIL_CRITICAL_ERRORS | SYMOPT_LOAD_LINES |
		      SYMOPT_NO_PROMPTS);
	return w;
}

void winsym__forget(struct winsym *w, uint32_t pid)
{
	for (size_t i = 0; i < w->nprocs; i++)
		if (w->procs[i].pid == pid) {
			SymCleanup(w->procs[i].h);
			w->procs[i] = w->procs[--w->nprocs];
			return;
		}
}

void winsym__free(struct winsym *w)
{
	if (!w)
		return;
	while (w->nprocs)
		winsym__forget(w, w->procs[0].pid);
	free(w);
}

static struct wproc *wproc_get(struct winsym *w, uint32_t pid)
{
	struct wproc *p;

	for (size_t i = 0; i < w->nprocs; i++)
		if (w->procs[i].pid == pid)
			return &w->procs[i];
	if (w->nprocs == MAX_PROCS)
		return NULL;
	p = &w->procs[w->nprocs];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	/* Not a real handle: odd values are never handles. */
	p->h = (HANDLE)(((uintptr_t)pid << 8) | 0x3f);
	if (!SymInitializeW(p->h, NULL, FALSE))
		return NULL;
	w->nprocs++;
	return p;
}

/* Kernel-Process names images by their NT path
 * (\Device\HarddiskVolume4\Windows\...), which dbghelp cannot open:
 * rewrite it with the drive letter whose device it is. Paths from the
 * process's module list are DOS paths already and stay. */
static void dos_path(WCHAR *path, size_t len)
{
	WCHAR drive[3] = L"A:", dev[MAX_PATH], out[MAX_PATH];

	if (wcsncmp(path, L"\\Device\\", 8))
		return;
	for (WCHAR d = L'A'; d <= L'Z'; d++) {
		size_t n;

		drive[0] = d;
		if (!QueryDosDeviceW(drive, dev, MAX_PATH))
			continue;
		n = wcslen(dev);
		if (wcsncmp(path, dev, n) || path[n] != L'\\')
			continue;
		if (_snwprintf(out, MAX_PATH, L"%ls%ls", drive, path + n) < 0)
			return;
		out[MAX_PATH - 1] = L'\0';
		wcsncpy(path, out, len);
		path[len - 1] = L'\0';
		return;
	}
}

/* Make sure dbghelp knows the module holding ip. */
static struct wproc *with_module(struct winsym *w, uint32_t pid, uint64_t ip,
				 char *module, size_t len)
{
	struct wproc *p = wproc_get(w, pid);
	uint64_t base = 0;
	const char *path = etw_decoder__module_of(w->mods, pid, ip, &base);
	WCHAR wpath[MAX_PATH];

	if (module && len) {
		const char *b = path ? path : "";

		for (const char *s = b; *s; s++)
			if (*s == '\\' || *s == '/')
				b = s + 1;
		snprintf(module, len, "%s", b);
	}
	if (!p || !path)
		return p;
	for (size_t i = 0; i < p->nloaded; i++)
		if (p->loaded[i] == base)
			return p;
	if (p->nloaded == MAX_MODS)
		return p;
	if (!MultiByteToWideChar(CP_UTF8, 0, path, -1, wpath, MAX_PATH))
		return p;
	dos_path(wpath, MAX_PATH);
	/* Size 0: dbghelp reads it from the image. */
	if (SymLoadModuleExW(p->h, NULL, wpath, NULL, base, 0, NULL, 0) ||
	    GetLastError() == ERROR_SUCCESS)
		p->loaded[p->nloaded++] = base;
	return p;
}

static const char *name_of(struct winsym *w, struct wproc *p, uint64_t ip,
			   uint64_t *offset)
{
	DWORD64 disp = 0;

	memset(&w->sym, 0, sizeof(SYMBOL_INFOW));
	w->sym.info.SizeOfStruct = sizeof(SYMBOL_INFOW);
	w->sym.info.MaxNameLen = MAX_SYM_NAME;
	if (!p || !SymFromAddrW(p->h, ip, &disp, &w->sym.info))
		return NULL;
	if (!WideCharToMultiByte(CP_UTF8, 0, w->sym.info.Name, -1, w->name,
				 sizeof(w->name), NULL, NULL))
		return NULL;
	if (offset)
		*offset = disp;
	return w->name;
}

const char *winsym__name(void *ctx, uint32_t pid, uint64_t ip)
{
	struct winsym *w = ctx;

	return name_of(w, with_module(w, pid, ip, NULL, 0), ip, NULL);
}

void winsym__resolve(struct winsym *w, uint32_t pid, struct mw_site_row *row)
{
	struct wproc *p =
	    with_module(w, pid, row->ip, row->module, sizeof(row->module));
	IMAGEHLP_LINEW64 line;
	DWORD disp = 0;
	const char *f = name_of(w, p, row->ip, &row->offset);

	if (f)
		snprintf(row->function, sizeof(row->function), "%s", f);
	memset(&line, 0, sizeof(line));
	line.SizeOfStruct = sizeof(line);
	if (p && SymGetLineFromAddrW64(p->h, row->ip, &disp, &line)) {
		WideCharToMultiByte(CP_UTF8, 0, line.FileName, -1, row->file,
				    sizeof(row->file), NULL, NULL);
		row->line = line.LineNumber;
	}
}
