/*
 * xca.c - MS-XCA plain LZ77 decompression (the open specification
 * [MS-XCA] 2.4), for compressed ETW buffers (etl_file.c).
 *
 * The stream is 32-bit flag words, read most significant bit first:
 * a 0 bit is one literal byte, a 1 bit a 16-bit match word (offset - 1
 * in its high 13 bits, length - 3 in its low 3). A length of 7 goes on
 * in a shared nibble byte (two matches use the two halves of one byte),
 * then a byte, then 16 and 32-bit counts. Every read is checked against
 * in_len and every copy against out_cap and the bytes written so far.
 */
#include <errno.h>
#include <string.h>

#include "xca.h"

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint32_t rd16(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

/* The match length past its 3-bit field; *ip moves past what it read. */
static int match_length(const uint8_t *in, size_t in_len, size_t *ip,
			size_t *half, uint64_t *len)
{
	uint64_t n;

	if (*half == 0) {
		if (*ip >= in_len)
			return -EBADMSG;
		n = in[*ip] & 0xf;
		*half = *ip;
		(*ip)++;
	} else {
		n = in[*half] >> 4;
		*half = 0;
	}
	if (n == 15) {
		if (*ip >= in_len)
			return -EBADMSG;
		n = in[(*ip)++];
		if (n == 255) {
			if (in_len - *ip < 2)
				return -EBADMSG;
			n = rd16(in + *ip);
			*ip += 2;
			if (n == 0) {
				if (in_len - *ip < 4)
					return -EBADMSG;
				n = rd32(in + *ip);
				*ip += 4;
			}
			if (n < 15 + 7)
				return -EBADMSG;
			n -= 15 + 7;
		}
		n += 15;
	}
	*len = n + 7;
	return 0;
}

int xca__lz77_decompress(const uint8_t *in, size_t in_len, uint8_t *out,
			 size_t out_cap, size_t *out_len)
{
	size_t ip = 0, op = 0, half = 0;
	uint32_t flags = 0;
	int nflags = 0;

	for (;;) {
		if (nflags == 0) {
			if (in_len - ip < 4) {
				/* The last flag word may be cut short only
				 * when no byte is left for it to describe. */
				if (ip == in_len)
					break;
				return -EBADMSG;
			}
			flags = rd32(in + ip);
			ip += 4;
			nflags = 32;
		}
		nflags--;
		if (!(flags >> nflags & 1)) {
			if (ip == in_len)
				break;
			if (op >= out_cap)
				return -ENOSPC;
			out[op++] = in[ip++];
			continue;
		}
		if (ip == in_len)
			break;
		if (in_len - ip < 2)
			return -EBADMSG;
		uint32_t word = rd16(in + ip);
		ip += 2;
		uint64_t len = word & 7;
		size_t off = (word >> 3) + 1;
		if (len == 7) {
			int err = match_length(in, in_len, &ip, &half, &len);
			if (err)
				return err;
		}
		len += 3;
		if (off > op)
			return -EBADMSG;
		if (len > out_cap - op)
			return -ENOSPC;
		/* Byte by byte: a match may overlap what it writes. */
		for (uint64_t i = 0; i < len; i++, op++)
			out[op] = out[op - off];
	}
	*out_len = op;
	return 0;
}
