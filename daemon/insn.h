/*
 * insn.h - where to put an entry uprobe in a function, by decoding its
 * first instructions (x86-64).
 *
 * A uprobe costs one trap when the kernel emulates the instruction under
 * it (jmp, jcc, call, push) and two when it must single-step it out of
 * line: glibc's free begins with `test %rdi,%rdi`, and a probe there
 * costs about 18 us instead of about 7 us at the `je` after it. An entry
 * probe can move to the first emulated instruction as long as everything
 * its program reads is still as it was at the function's entry: no
 * branch can have been taken, and neither the argument registers it reads
 * nor the stack pointer (the return address is read at [rsp]) can have
 * been written. Anything the decoder does not know ends the search: the
 * probe then stays at the entry.
 */
#ifndef MEMWATCH_INSN_H
#define MEMWATCH_INSN_H

#include <stddef.h>
#include <stdint.h>

/* Register numbers as x86-64 encodes them, for insn__place's mask. */
enum insn_reg {
	INSN_RAX = 0,
	INSN_RCX = 1,
	INSN_RDX = 2,
	INSN_RSP = 4,
	INSN_RSI = 6,
	INSN_RDI = 7,
	INSN_R8 = 8,
	INSN_R9 = 9,
};

#define INSN_REG(r) (1u << (r))

/* The offset, within code[0..len) (a function's first bytes), of the
 * first instruction the kernel emulates before which no register in
 * keep (a mask of INSN_REG bits; the stack pointer is always kept) was
 * written and no branch taken; 0 (the entry) when there is none. */
size_t insn__place(const uint8_t *code, size_t len, uint32_t keep);

/* The same for a program that can read its arguments from other
 * registers: a kept register may have been overwritten if a 64-bit copy
 * of it survives; at[r] says where r's value is at the offset returned
 * (at[r] == r when it did not move). */
size_t insn__place_moved(const uint8_t *code, size_t len, uint32_t keep,
			 uint8_t at[16]);

#endif
