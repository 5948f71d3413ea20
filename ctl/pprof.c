/*
 * pprof.c - see pprof.h.
 *
 * The protobuf encoding is written here by hand: profile.proto needs
 * only varints (wire type 0) and length-delimited fields (wire type 2:
 * strings, nested messages and packed repeated integers), so a growable
 * byte buffer and a few functions cover it. Field numbers are those of
 * profile.proto (github.com/google/pprof, proto/profile.proto).
 *
 * Strings, mappings, functions and locations are deduplicated through
 * indices (struct index: common/hash.h's hmap from a hash to an id);
 * ids are 1-based indices into their arrays, as profile.proto wants
 * non-zero ids, and string index 0 is "". What is written follows the
 * arrays, in the order entries were added: the hashes never reach the
 * output.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "hash.h"
#include "pprof.h"
#include "text.h"

/* profile.proto field numbers, by message. */
enum {
	PROFILE_SAMPLE_TYPE = 1,
	PROFILE_SAMPLE = 2,
	PROFILE_MAPPING = 3,
	PROFILE_LOCATION = 4,
	PROFILE_FUNCTION = 5,
	PROFILE_STRING_TABLE = 6,
	PROFILE_TIME_NANOS = 9,
	PROFILE_PERIOD_TYPE = 11,
	PROFILE_PERIOD = 12,
	PROFILE_DEFAULT_SAMPLE_TYPE = 14,
};
enum { VALUE_TYPE_TYPE = 1, VALUE_TYPE_UNIT = 2 };
enum { SAMPLE_LOCATION_ID = 1, SAMPLE_VALUE = 2, SAMPLE_LABEL = 3 };
enum { LABEL_KEY = 1, LABEL_STR = 2, LABEL_NUM = 3 };
enum {
	MAPPING_ID = 1,
	MAPPING_MEMORY_START = 2,
	MAPPING_MEMORY_LIMIT = 3,
	MAPPING_FILE_OFFSET = 4,
	MAPPING_FILENAME = 5,
	MAPPING_BUILD_ID = 6,
	MAPPING_HAS_FUNCTIONS = 7,
	MAPPING_HAS_FILENAMES = 8,
	MAPPING_HAS_LINE_NUMBERS = 9,
};
enum {
	LOCATION_ID = 1,
	LOCATION_MAPPING_ID = 2,
	LOCATION_ADDRESS = 3,
	LOCATION_LINE = 4,
};
enum { LINE_FUNCTION_ID = 1, LINE_LINE = 2 };
enum {
	FUNCTION_ID = 1,
	FUNCTION_NAME = 2,
	FUNCTION_SYSTEM_NAME = 3,
	FUNCTION_FILENAME = 4,
};

enum { WIRE_VARINT = 0, WIRE_LEN = 2 };

/* --- protobuf encoding ------------------------------------------------- */

/* A growable buffer. An allocation failure is sticky: later writes do
 * nothing and err says so at the end, so that encoding a message is not
 * a check after every field. */
struct pb {
	uint8_t *buf;
	size_t len, cap;
	int err;
};

static bool pb__reserve(struct pb *b, size_t n)
{
	size_t cap;
	uint8_t *nb;

	if (b->err)
		return false;
	if (b->buf && b->len + n <= b->cap)
		return true;
	for (cap = b->cap ? b->cap : 256; cap < b->len + n; cap *= 2)
		;
	nb = realloc(b->buf, cap);
	if (!nb) {
		b->err = -ENOMEM;
		return false;
	}
	b->buf = nb;
	b->cap = cap;
	return true;
}

static void pb__raw(struct pb *b, const void *data, size_t n)
{
	if (n && pb__reserve(b, n)) {
		memcpy(b->buf + b->len, data, n);
		b->len += n;
	}
}

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Base 128, least significant group first, high bit = more follow. */
static void pb__varint(struct pb *b, uint64_t v)
{
	if (!pb__reserve(b, 10))
		return;
	while (v >= 0x80) {
		b->buf[b->len++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b->buf[b->len++] = (uint8_t)v;
}

static void pb__key(struct pb *b, uint32_t field, uint32_t wire)
{
	pb__varint(b, (uint64_t)field << 3 | wire);
}

/* A uint64, int64 (never negative here) or bool field. Zero is the
 * default every reader assumes, so it is left out, as proto3 does. */
static void pb__uint(struct pb *b, uint32_t field, uint64_t v)
{
	if (!v)
		return;
	pb__key(b, field, WIRE_VARINT);
	pb__varint(b, v);
}

/* A string, or a message already encoded; written even when empty: the
 * string table's "" at index 0 must be there. */
static void pb__bytes(struct pb *b, uint32_t field, const void *data, size_t n)
{
	pb__key(b, field, WIRE_LEN);
	pb__varint(b, n);
	pb__raw(b, data, n);
}

/* Packed repeated integers: one length-delimited field of varints. */
static void pb__packed(struct pb *b, uint32_t field, const uint64_t *v,
		       size_t n)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++)
		len += varint_len(v[i]);
	pb__key(b, field, WIRE_LEN);
	pb__varint(b, len);
	for (size_t i = 0; i < n; i++)
		pb__varint(b, v[i]);
}

/* The message encoded in m as field `field` of b; m is emptied for the
 * next one. */
static void pb__message(struct pb *b, uint32_t field, struct pb *m)
{
	if (m->err && !b->err)
		b->err = m->err;
	pb__bytes(b, field, m->buf, m->len);
	m->len = 0;
}

/* --- the profile ------------------------------------------------------- */

struct mapping {
	uint64_t space;
	int64_t file;	       /* string index of the module's path */
	uint64_t start, limit; /* [lowest, highest + 1) of its locations */
	bool has_files, has_lines;
	/* As the process mapped it, when known (real): [map_start,
	 * map_limit) from file offset map_offset. */
	bool real;
	uint64_t map_start, map_limit, map_offset;
	int64_t build_id; /* string index, 0: unknown */
};

struct function {
	int64_t name; /* string indices */
	int64_t file;
};

struct location {
	uint64_t space;
	uint64_t addr;
	uint64_t mapping; /* ids, 0: none */
	uint64_t function;
	uint32_t line;
};

struct sample {
	uint64_t objects;
	uint64_t bytes;
	uint32_t pid;
	uint32_t nlocs;
	int64_t comm; /* string index, 0: none */
	size_t first; /* its location ids: p->stack[first...] */
};

/* The entries of one table by hash: first maps a hash to the id of the
 * newest entry with it (as a pointer: ids are never 0, and hmap values
 * must not be NULL); next[id - 1] is the id of the entry before it with
 * the same hash, 0 after the last. */
struct index {
	struct hmap first;
	uint64_t *next;
	size_t cap;
};

struct pprof {
	uint64_t time_ns;
	char **strs;
	size_t nstrs, cap_strs;
	struct index str_idx;
	struct mapping *maps;
	size_t nmaps, cap_maps;
	struct index map_idx;
	struct function *funcs;
	size_t nfuncs, cap_funcs;
	struct index func_idx;
	struct location *locs;
	size_t nlocs, cap_locs;
	struct index loc_idx;
	struct sample *samples;
	size_t nsamples, cap_samples;
	uint64_t *stack;
	size_t nstack, cap_stack;
	/* String indices of the fixed names. */
	int64_t s_inuse_objects, s_count, s_inuse_space, s_bytes, s_space,
	    s_pid, s_comm;
};

/* Room for n + 1 elements of size `size` in *v. */
static int vec_grow(void *v, size_t *cap, size_t n, size_t size)
{
	void **pv = v;
	size_t c;
	void *nv;

	if (n < *cap)
		return 0;
	c = *cap ? *cap * 2 : 16;
	nv = reallocarray(*pv, c, size);
	if (!nv)
		return -ENOMEM;
	*pv = nv;
	*cap = c;
	return 0;
}

static uint64_t hash2(uint64_t a, uint64_t b)
{
	return hash__mix(hash__mix(a) ^ (b + 0x9e3779b97f4a7c15ull));
}

/* FNV-1a. */
static uint64_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

/* The id of the entry with this hash that eq() matches, or 0. */
static uint64_t index__find(const struct index *x, uint64_t hash,
			    bool (*eq)(const struct pprof *p, uint64_t id,
				       const void *key),
			    const struct pprof *p, const void *key)
{
	uint64_t id;

	/* Nothing added yet (said here too for the analyzer, which cannot
	 * see that an empty hmap finds nothing). */
	if (!x->next)
		return 0;
	for (id = (uint64_t)(uintptr_t)hmap__get(&x->first, hash); id;
	     id = x->next[id - 1])
		if (eq(p, id, key))
			return id;
	return 0;
}

/* Index the entry id, the newest of its table (ids grow by one). */
static int index__add(struct index *x, uint64_t hash, uint64_t id)
{
	int err;

	if ((err = vec_grow(&x->next, &x->cap, id - 1, sizeof(*x->next))))
		return err;
	x->next[id - 1] = (uint64_t)(uintptr_t)hmap__get(&x->first, hash);
	return hmap__put(&x->first, hash, (void *)(uintptr_t)id);
}

static void index__fini(struct index *x)
{
	hmap__fini(&x->first);
	free(x->next);
}

static bool str_eq(const struct pprof *p, uint64_t id, const void *key)
{
	return !strcmp(p->strs[id - 1], key);
}

/* The index of s in the string table, added if new. */
static int intern(struct pprof *p, const char *s, int64_t *idx)
{
	uint64_t h = hash_str(s);
	uint64_t id = index__find(&p->str_idx, h, str_eq, p, s);
	int err;

	if (!id) {
		char *copy;

		if ((err = vec_grow(&p->strs, &p->cap_strs, p->nstrs,
				    sizeof(*p->strs))))
			return err;
		if (!(copy = strdup(s)))
			return -ENOMEM;
		if ((err = index__add(&p->str_idx, h, p->nstrs + 1))) {
			free(copy);
			return err;
		}
		p->strs[p->nstrs++] = copy;
		id = p->nstrs;
	}
	*idx = (int64_t)id - 1;
	return 0;
}

struct pair {
	uint64_t a, b;
};

static bool map_eq(const struct pprof *p, uint64_t id, const void *key)
{
	const struct pair *k = key;
	const struct mapping *m = &p->maps[id - 1];

	return m->space == k->a && (uint64_t)m->file == k->b;
}

/*
 * The mapping of fr's module in this address space: the range its code
 * had in the process and its build id when the frame brings them (the
 * first frame of the module that does), else the range of the module's
 * locations in this profile, enough for pprof to show the module;
 * has_functions says they are symbolized already.
 */
static int add_mapping(struct pprof *p, uint64_t space,
		       const struct pprof_frame *fr, uint64_t *id)
{
	struct pair k = {space, 0};
	struct mapping *m;
	int64_t file;
	uint64_t h, mid;
	int err;

	if ((err = intern(p, fr->module, &file)))
		return err;
	k.b = (uint64_t)file;
	h = hash2(space, k.b);
	mid = index__find(&p->map_idx, h, map_eq, p, &k);
	if (!mid) {
		if ((err = vec_grow(&p->maps, &p->cap_maps, p->nmaps,
				    sizeof(*p->maps))) ||
		    (err = index__add(&p->map_idx, h, p->nmaps + 1)))
			return err;
		p->maps[p->nmaps++] = (struct mapping){
		    .space = space,
		    .file = file,
		    .start = fr->addr,
		    .limit = fr->addr + 1,
		};
		mid = p->nmaps;
	}
	m = &p->maps[mid - 1];
	if (fr->addr < m->start)
		m->start = fr->addr;
	if (fr->addr >= m->limit)
		m->limit = fr->addr + 1;
	m->has_files |= fr->file && fr->file[0];
	m->has_lines |= fr->line != 0;
	if (!m->real && fr->map_limit > fr->map_start) {
		m->real = true;
		m->map_start = fr->map_start;
		m->map_limit = fr->map_limit;
		m->map_offset = fr->map_offset;
	}
	if (!m->build_id && fr->build_id && fr->build_id[0]) {
		int64_t b;

		if ((err = intern(p, fr->build_id, &b)))
			return err;
		p->maps[mid - 1].build_id = b;
	}
	*id = mid;
	return 0;
}

static bool func_eq(const struct pprof *p, uint64_t id, const void *key)
{
	const struct pair *k = key;
	const struct function *f = &p->funcs[id - 1];

	return (uint64_t)f->name == k->a && (uint64_t)f->file == k->b;
}

/* One function per (symbol, source file), whatever the process. */
static int add_function(struct pprof *p, const struct pprof_frame *fr,
			uint64_t *id)
{
	int64_t name, file;
	struct pair k;
	uint64_t h;
	int err;

	if ((err = intern(p, fr->function, &name)) ||
	    (err = intern(p, fr->file ? fr->file : "", &file)))
		return err;
	k = (struct pair){(uint64_t)name, (uint64_t)file};
	h = hash2(k.a, k.b);
	if ((*id = index__find(&p->func_idx, h, func_eq, p, &k)))
		return 0;
	if ((err = vec_grow(&p->funcs, &p->cap_funcs, p->nfuncs,
			    sizeof(*p->funcs))) ||
	    (err = index__add(&p->func_idx, h, p->nfuncs + 1)))
		return err;
	p->funcs[p->nfuncs++] = (struct function){name, file};
	*id = p->nfuncs;
	return 0;
}

static bool loc_eq(const struct pprof *p, uint64_t id, const void *key)
{
	const struct pair *k = key;
	const struct location *l = &p->locs[id - 1];

	return l->space == k->a && l->addr == k->b;
}

uint64_t pprof__find_location(const struct pprof *p, uint64_t space,
			      uint64_t addr)
{
	struct pair k = {space, addr};

	return index__find(&p->loc_idx, hash2(space, addr), loc_eq, p, &k);
}

int pprof__add_location(struct pprof *p, uint64_t space,
			const struct pprof_frame *fr, uint64_t *id)
{
	struct pair k = {space, fr->addr};
	uint64_t h = hash2(space, fr->addr);
	struct location l = {.space = space, .addr = fr->addr};
	int err;

	if ((*id = index__find(&p->loc_idx, h, loc_eq, p, &k)))
		return 0;
	if (fr->module && fr->module[0] &&
	    (err = add_mapping(p, space, fr, &l.mapping)))
		return err;
	if (fr->function && fr->function[0]) {
		if ((err = add_function(p, fr, &l.function)))
			return err;
		l.line = fr->line;
	}
	if ((err = vec_grow(&p->locs, &p->cap_locs, p->nlocs,
			    sizeof(*p->locs))) ||
	    (err = index__add(&p->loc_idx, h, p->nlocs + 1)))
		return err;
	p->locs[p->nlocs++] = l;
	*id = p->nlocs;
	return 0;
}

int pprof__add_sample(struct pprof *p, const uint64_t *locs, uint32_t n,
		      uint64_t objects, uint64_t bytes, uint32_t pid,
		      const char *comm)
{
	int64_t c = 0;
	int err;

	if (!n)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++)
		if (!locs[i] || locs[i] > p->nlocs)
			return -EINVAL;
	if (comm && comm[0] && (err = intern(p, comm, &c)))
		return err;
	if ((err = vec_grow(&p->samples, &p->cap_samples, p->nsamples,
			    sizeof(*p->samples))))
		return err;
	while (p->nstack + n > p->cap_stack)
		if ((err = vec_grow(&p->stack, &p->cap_stack, p->cap_stack,
				    sizeof(*p->stack))))
			return err;
	memcpy(p->stack + p->nstack, locs, n * sizeof(*locs));
	p->samples[p->nsamples++] = (struct sample){
	    .objects = objects,
	    .bytes = bytes,
	    .pid = pid,
	    .nlocs = n,
	    .comm = c,
	    .first = p->nstack,
	};
	p->nstack += n;
	return 0;
}

struct pprof *pprof__new(uint64_t time_ns)
{
	struct pprof *p = calloc(1, sizeof(*p));
	int64_t empty;

	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	p->time_ns = time_ns;
	/* "" first: index 0, as profile.proto requires. */
	if (intern(p, "", &empty) ||
	    intern(p, "inuse_objects", &p->s_inuse_objects) ||
	    intern(p, "count", &p->s_count) ||
	    intern(p, "inuse_space", &p->s_inuse_space) ||
	    intern(p, "bytes", &p->s_bytes) ||
	    intern(p, "space", &p->s_space) || intern(p, "pid", &p->s_pid) ||
	    intern(p, "comm", &p->s_comm)) {
		pprof__free(p);
		errno = ENOMEM;
		return NULL;
	}
	return p;
}

void pprof__free(struct pprof *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nstrs; i++)
		free(p->strs[i]);
	free(p->strs);
	index__fini(&p->str_idx);
	free(p->maps);
	index__fini(&p->map_idx);
	free(p->funcs);
	index__fini(&p->func_idx);
	free(p->locs);
	index__fini(&p->loc_idx);
	free(p->samples);
	free(p->stack);
	free(p);
}

/* --- profile.proto ----------------------------------------------------- */

static void encode_value_type(struct pb *b, uint32_t field, struct pb *m,
			      int64_t type, int64_t unit)
{
	pb__uint(m, VALUE_TYPE_TYPE, (uint64_t)type);
	pb__uint(m, VALUE_TYPE_UNIT, (uint64_t)unit);
	pb__message(b, field, m);
}

/* The whole Profile message into b; m and sub are scratch buffers for
 * the nested messages. */
static void encode_profile(const struct pprof *p, struct pb *b, struct pb *m,
			   struct pb *sub)
{
	encode_value_type(b, PROFILE_SAMPLE_TYPE, m, p->s_inuse_objects,
			  p->s_count);
	encode_value_type(b, PROFILE_SAMPLE_TYPE, m, p->s_inuse_space,
			  p->s_bytes);
	for (size_t i = 0; i < p->nsamples; i++) {
		const struct sample *s = &p->samples[i];
		uint64_t values[2] = {s->objects, s->bytes};

		pb__packed(m, SAMPLE_LOCATION_ID, p->stack + s->first,
			   s->nlocs);
		pb__packed(m, SAMPLE_VALUE, values, 2);
		pb__uint(sub, LABEL_KEY, (uint64_t)p->s_pid);
		pb__uint(sub, LABEL_NUM, s->pid);
		pb__message(m, SAMPLE_LABEL, sub);
		if (s->comm) {
			pb__uint(sub, LABEL_KEY, (uint64_t)p->s_comm);
			pb__uint(sub, LABEL_STR, (uint64_t)s->comm);
			pb__message(m, SAMPLE_LABEL, sub);
		}
		pb__message(b, PROFILE_SAMPLE, m);
	}
	for (size_t i = 0; i < p->nmaps; i++) {
		const struct mapping *mp = &p->maps[i];
		/* The real mapping if it holds every location of the
		 * module: a reader then turns an address into a file
		 * offset (address - start + offset) and symbolizes it. */
		bool real = mp->real && mp->map_start <= mp->start &&
			    mp->limit <= mp->map_limit;

		pb__uint(m, MAPPING_ID, i + 1);
		pb__uint(m, MAPPING_MEMORY_START,
			 real ? mp->map_start : mp->start);
		pb__uint(m, MAPPING_MEMORY_LIMIT,
			 real ? mp->map_limit : mp->limit);
		pb__uint(m, MAPPING_FILE_OFFSET, real ? mp->map_offset : 0);
		pb__uint(m, MAPPING_FILENAME, (uint64_t)mp->file);
		pb__uint(m, MAPPING_BUILD_ID, (uint64_t)mp->build_id);
		pb__uint(m, MAPPING_HAS_FUNCTIONS, 1);
		pb__uint(m, MAPPING_HAS_FILENAMES, mp->has_files);
		pb__uint(m, MAPPING_HAS_LINE_NUMBERS, mp->has_lines);
		pb__message(b, PROFILE_MAPPING, m);
	}
	for (size_t i = 0; i < p->nlocs; i++) {
		const struct location *l = &p->locs[i];

		pb__uint(m, LOCATION_ID, i + 1);
		pb__uint(m, LOCATION_MAPPING_ID, l->mapping);
		pb__uint(m, LOCATION_ADDRESS, l->addr);
		if (l->function) {
			pb__uint(sub, LINE_FUNCTION_ID, l->function);
			pb__uint(sub, LINE_LINE, l->line);
			pb__message(m, LOCATION_LINE, sub);
		}
		pb__message(b, PROFILE_LOCATION, m);
	}
	for (size_t i = 0; i < p->nfuncs; i++) {
		const struct function *f = &p->funcs[i];

		pb__uint(m, FUNCTION_ID, i + 1);
		/* pprof demangles system_name into name when they are
		 * equal: both are the symbol as the binary has it. */
		pb__uint(m, FUNCTION_NAME, (uint64_t)f->name);
		pb__uint(m, FUNCTION_SYSTEM_NAME, (uint64_t)f->name);
		pb__uint(m, FUNCTION_FILENAME, (uint64_t)f->file);
		pb__message(b, PROFILE_FUNCTION, m);
	}
	for (size_t i = 0; i < p->nstrs; i++)
		pb__bytes(b, PROFILE_STRING_TABLE, p->strs[i],
			  strlen(p->strs[i]));
	pb__uint(b, PROFILE_TIME_NANOS, p->time_ns);
	/* Every live block is in the profile: nothing is sampled. */
	encode_value_type(b, PROFILE_PERIOD_TYPE, m, p->s_space, p->s_bytes);
	pb__uint(b, PROFILE_PERIOD, 1);
	pb__uint(b, PROFILE_DEFAULT_SAMPLE_TYPE, (uint64_t)p->s_inuse_space);
	if (!b->err)
		b->err = m->err ? m->err : sub->err;
}

/* data as one gzip member (zlib's deflate with a gzip header). */
static int gzip_write(const uint8_t *data, size_t len, FILE *f)
{
	/* deflate takes at most UINT_MAX bytes a call. */
	const size_t chunk = 1u << 30;
	uint8_t out[1 << 16];
	z_stream z;
	int rc, err = 0;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + 15, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	do {
		size_t n;

		if (!z.avail_in && len) {
			n = len < chunk ? len : chunk;
			z.next_in = (Bytef *)data;
			z.avail_in = (uInt)n;
			data += n;
			len -= n;
		}
		z.next_out = out;
		z.avail_out = sizeof(out);
		rc = deflate(&z, len ? Z_NO_FLUSH : Z_FINISH);
		if (rc != Z_OK && rc != Z_STREAM_END) {
			err = -EIO;
			break;
		}
		n = sizeof(out) - z.avail_out;
		errno = 0;
		if (n && fwrite(out, 1, n, f) != n) {
			err = errno ? -errno : -EIO;
			break;
		}
	} while (rc != Z_STREAM_END);
	deflateEnd(&z);
	return err;
}

int pprof__write(const struct pprof *p, FILE *f)
{
	struct pb b = {0}, m = {0}, sub = {0};
	int err;

	encode_profile(p, &b, &m, &sub);
	err = b.err ? b.err : gzip_write(b.buf, b.len, f);
	free(b.buf);
	free(m.buf);
	free(sub.buf);
	return err;
}

/* --- folded stacks ----------------------------------------------------- */

/* A folded line is built in a struct pb, the encoder's growing buffer
 * (raw bytes only here), not a memory stream: Windows has none. */
static void put_char(struct pb *b, char c)
{
	pb__raw(b, &c, 1);
}

static void put_str(struct pb *b, const char *s)
{
	pb__raw(b, s, strlen(s));
}

/* s with what would break a folded line or a flame graph's SVG made
 * harmless: ';' separates frames, a newline ends the line, control bytes
 * and invalid UTF-8 become '?'. */
static void put_frame_text(struct pb *b, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	while (*u) {
		unsigned n = text__utf8_len(u);

		if (!n || *u < 0x20 || *u == 0x7f || *u == ';') {
			put_char(b, *u == ';' ? ':' : '?');
			u++;
			continue;
		}
		pb__raw(b, u, (size_t)n);
		u += n;
	}
}

static void put_frame(const struct pprof *p, const struct location *l,
		      struct pb *b,
		      const char *(*pretty)(const char *, char *, size_t))
{
	char buf[1024];

	if (l->function) {
		const char *name = p->strs[p->funcs[l->function - 1].name];

		put_frame_text(b,
			       pretty ? pretty(name, buf, sizeof(buf)) : name);
		return;
	}
	snprintf(buf, sizeof(buf), "0x%" PRIx64, l->addr);
	put_str(b, buf);
	if (l->mapping) {
		const char *path = p->strs[p->maps[l->mapping - 1].file];

		put_str(b, " (");
		put_frame_text(b, text__base_name(path));
		put_char(b, ')');
	}
}

struct folded {
	char *text;
	uint64_t bytes;
};

static int folded_cmp(const void *a, const void *b)
{
	return strcmp(((const struct folded *)a)->text,
		      ((const struct folded *)b)->text);
}

/* Samples whose frames read the same (the same functions at other
 * addresses, other processes) are one line: sorted, then merged. */
int pprof__write_folded(const struct pprof *p, FILE *f,
			const char *(*pretty)(const char *name, char *buf,
					      size_t len))
{
	struct folded *v = calloc(p->nsamples ? p->nsamples : 1, sizeof(*v));
	int err = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < p->nsamples && !err; i++) {
		const struct sample *s = &p->samples[i];
		struct pb m = {0};

		for (uint32_t j = s->nlocs; j-- > 0;) {
			put_frame(p, &p->locs[p->stack[s->first + j] - 1], &m,
				  pretty);
			if (j)
				put_char(&m, ';');
		}
		put_char(&m, '\0');
		v[i].text = (char *)m.buf;
		if (m.err)
			err = m.err;
		v[i].bytes = s->bytes;
	}
	if (!err)
		qsort(v, p->nsamples, sizeof(*v), folded_cmp);
	for (size_t i = 0; i < p->nsamples && !err;) {
		uint64_t bytes = 0;
		size_t j;

		for (j = i; j < p->nsamples && !strcmp(v[j].text, v[i].text);
		     j++)
			bytes += v[j].bytes;
		errno = 0;
		if (fprintf(f, "%s %" PRIu64 "\n", v[i].text, bytes) < 0)
			err = errno ? -errno : -EIO;
		i = j;
	}
	for (size_t i = 0; i < p->nsamples; i++)
		free(v[i].text);
	free(v);
	return err;
}
