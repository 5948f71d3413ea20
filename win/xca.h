/*
 * xca.h - the MS-XCA "plain LZ77" decompressor: the format Windows 8 and
 * later use for the buffers of compressed ETW trace files (.etl with
 * EVENT_TRACE_COMPRESSED_MODE). Portable C, no allocation: the caller
 * owns both buffers.
 */
#ifndef MW_WIN_XCA_H
#define MW_WIN_XCA_H

#include <stddef.h>
#include <stdint.h>

/*
 * Decompress in[0..in_len) into out[0..out_cap). On success returns 0 and
 * sets *out_len; -EBADMSG for input that is truncated or refers before
 * the start of the output, -ENOSPC when the output would pass out_cap.
 * Never reads or writes outside the two buffers.
 */
int xca__lz77_decompress(const uint8_t *in, size_t in_len, uint8_t *out,
			 size_t out_cap, size_t *out_len);

#endif
