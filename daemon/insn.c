/*
 * insn.c - a small x86-64 decoder for placing entry uprobes; see insn.h.
 *
 * It knows the instructions compilers put at the top of a function
 * (moves, arithmetic, tests, lea, shifts, endbr64, nops) well enough to
 * tell their length and the register they write, and the ones the kernel
 * emulates under a uprobe (arch/x86/kernel/uprobes.c: jmp, jcc, call
 * rel32 and push of a register). Everything else stops the search.
 */
#include <stdbool.h>

#include "insn.h"

#define MAX_INSNS 16

enum insn_kind {
	I_PLAIN,    /* runs on; may write dest */
	I_EMULATED, /* a probe here costs one trap */
	I_STOP,	    /* unknown, a branch we cannot pass, or a stack change */
};

struct insn {
	size_t len;
	int kind;
	int dest; /* general register written, -1 none */
	int src;  /* dest is a 64-bit copy of this register, -1 none */
};

struct cursor {
	const uint8_t *c;
	size_t len, i;
	int rex;
	bool opsize;
};

static bool take(struct cursor *k, size_t n)
{
	if (k->i + n > k->len)
		return false;
	k->i += n;
	return true;
}

/* A ModRM operand: the reg field, and rm when it is a register (-1 for
 * memory); skips SIB and displacement. */
static bool modrm(struct cursor *k, int *reg, int *rm)
{
	uint8_t m, mod, r;

	if (k->i >= k->len)
		return false;
	m = k->c[k->i++];
	mod = m >> 6;
	r = m & 7;
	*reg = ((m >> 3) & 7) | (k->rex & 4 ? 8 : 0);
	if (mod == 3) {
		*rm = r | (k->rex & 1 ? 8 : 0);
		return true;
	}
	*rm = -1;
	if (r == 4) {
		if (k->i >= k->len)
			return false;
		if (mod == 0 && (k->c[k->i] & 7) == 5 && !take(k, 4))
			return false;
		k->i++;
	} else if (mod == 0 && r == 5 && !take(k, 4)) { /* rip-relative */
		return false;
	}
	if (mod == 1)
		return take(k, 1);
	if (mod == 2)
		return take(k, 4);
	return k->i <= k->len;
}

static size_t imm_z(const struct cursor *k)
{
	return k->opsize ? 2 : 4;
}

/* Without REX, byte registers 4-7 are ah, ch, dh, bh: rax to rbx. */
static int byte_reg(const struct cursor *k, int r)
{
	return r >= 4 && r < 8 && !k->rex ? r - 4 : r;
}

static void decode_0f(struct cursor *k, int rep, struct insn *in)
{
	int reg, rm;
	uint8_t op;

	if (k->i >= k->len)
		return;
	op = k->c[k->i++];
	if (op >= 0x80 && op <= 0x8f) { /* jcc rel32 */
		if (take(k, 4))
			in->kind = I_EMULATED;
		return;
	}
	if (op == 0x1e && rep == 0xf3 && k->i < k->len &&
	    k->c[k->i] == 0xfa) { /* endbr64 */
		k->i++;
		in->kind = I_PLAIN;
		return;
	}
	if (!modrm(k, &reg, &rm))
		return;
	if (op == 0x1f || op == 0x18 || op == 0xa3) { /* nop, prefetch, bt */
		in->kind = I_PLAIN;
	} else if ((op >= 0x40 && op <= 0x4f) || op == 0xaf || op == 0xb6 ||
		   op == 0xb7 || op == 0xbe || op == 0xbf) {
		in->kind = I_PLAIN; /* cmov, imul, movzx, movsx */
		in->dest = reg;
	} else if (op >= 0x90 && op <= 0x9f) { /* setcc */
		in->kind = I_PLAIN;
		in->dest = rm < 0 ? -1 : byte_reg(k, rm);
	} else if (op == 0xba && take(k, 1)) { /* bt group */
		in->kind = I_PLAIN;
		in->dest = (reg & 7) == 4 || rm < 0 ? -1 : rm;
	}
}

static void decode(const uint8_t *code, size_t len, struct insn *in)
{
	struct cursor k = {.c = code, .len = len};
	/* -1: none, if modrm() runs out of bytes before it sets them. */
	int rep = 0, reg = -1, rm = -1;
	uint8_t op;

	in->kind = I_STOP;
	in->dest = -1;
	in->src = -1;
	for (; k.i < len; k.i++) {
		uint8_t b = code[k.i];

		if (b == 0x66)
			k.opsize = true;
		else if (b == 0xf2 || b == 0xf3)
			rep = b;
		else if (b != 0x2e && b != 0x3e && b != 0x26 && b != 0x36 &&
			 b != 0x64 && b != 0x65 && b != 0x67)
			break;
	}
	if (k.i < len && (code[k.i] & 0xf0) == 0x40)
		k.rex = code[k.i++];
	if (k.i >= len)
		return;
	op = code[k.i++];

	if (op < 0x40 && (op & 7) <= 5 && op != 0x0f) {
		/* add, or, adc, sbb, and, sub, xor, cmp */
		bool cmp = (op & 0xf8) == 0x38;
		bool ok = true;

		switch (op & 7) {
		case 0:
		case 1:
			ok = modrm(&k, &reg, &rm);
			in->dest = rm < 0 ? -1 : (op & 1) ? rm : byte_reg(&k, rm);
			break;
		case 2:
		case 3:
			ok = modrm(&k, &reg, &rm);
			in->dest = (op & 1) ? reg : byte_reg(&k, reg);
			break;
		case 4:
			ok = take(&k, 1);
			in->dest = INSN_RAX;
			break;
		default:
			ok = take(&k, imm_z(&k));
			in->dest = INSN_RAX;
			break;
		}
		if (!ok)
			return;
		if (cmp)
			in->dest = -1;
		in->kind = I_PLAIN;
	} else if (op == 0x0f) {
		decode_0f(&k, rep, in);
	} else if (op >= 0x50 && op <= 0x57) { /* push reg */
		in->kind = I_EMULATED;
	} else if ((op >= 0x70 && op <= 0x7f) || op == 0xeb) {
		if (take(&k, 1))
			in->kind = I_EMULATED; /* jcc rel8, jmp rel8 */
	} else if (op == 0xe8 || op == 0xe9) {
		if (take(&k, 4))
			in->kind = I_EMULATED; /* call, jmp rel32 */
	} else if (op == 0x63 || op == 0x8b || op == 0x8d || op == 0x8a) {
		/* movsxd, mov r <- r/m, lea */
		if (modrm(&k, &reg, &rm)) {
			in->kind = I_PLAIN;
			in->dest = op == 0x8a ? byte_reg(&k, reg) : reg;
			if (op == 0x8b && rm >= 0 && (k.rex & 8))
				in->src = rm;
		}
	} else if (op == 0x69 || op == 0x6b) { /* imul r, r/m, imm */
		if (modrm(&k, &reg, &rm) &&
		    take(&k, op == 0x6b ? 1 : imm_z(&k))) {
			in->kind = I_PLAIN;
			in->dest = reg;
		}
	} else if (op == 0x80 || op == 0x81 || op == 0x83) { /* group 1 */
		if (modrm(&k, &reg, &rm) &&
		    take(&k, op == 0x81 ? imm_z(&k) : 1)) {
			in->kind = I_PLAIN;
			if ((reg & 7) != 7 && rm >= 0)
				in->dest = op == 0x80 ? byte_reg(&k, rm) : rm;
		}
	} else if (op == 0x84 || op == 0x85) { /* test */
		if (modrm(&k, &reg, &rm))
			in->kind = I_PLAIN;
	} else if (op == 0x88 || op == 0x89) { /* mov r/m <- r */
		if (modrm(&k, &reg, &rm)) {
			in->kind = I_PLAIN;
			if (rm >= 0)
				in->dest = op == 0x88 ? byte_reg(&k, rm) : rm;
			if (op == 0x89 && rm >= 0 && (k.rex & 8))
				in->src = reg;
		}
	} else if (op == 0x90 && !(k.rex & 1)) { /* nop, not xchg r8 */
		in->kind = I_PLAIN;
	} else if (op == 0xa8 || op == 0xa9) { /* test al/eax, imm */
		if (take(&k, op == 0xa8 ? 1 : imm_z(&k)))
			in->kind = I_PLAIN;
	} else if (op >= 0xb0 && op <= 0xbf) { /* mov r, imm */
		size_t n = op < 0xb8 ? 1 : (k.rex & 8) ? 8 : imm_z(&k);
		int r = (op & 7) | (k.rex & 1 ? 8 : 0);

		if (take(&k, n)) {
			in->kind = I_PLAIN;
			in->dest = op < 0xb8 ? byte_reg(&k, r) : r;
		}
	} else if (op == 0xc0 || op == 0xc1 || (op >= 0xd0 && op <= 0xd3) ||
		   op == 0xc6 || op == 0xc7) { /* shifts, mov r/m <- imm */
		size_t n = op == 0xc7 ? imm_z(&k)
			   : (op == 0xc0 || op == 0xc1 || op == 0xc6) ? 1
								      : 0;
		bool byte = op == 0xc0 || op == 0xd0 || op == 0xd2 || op == 0xc6;

		if (modrm(&k, &reg, &rm) && take(&k, n)) {
			in->kind = I_PLAIN;
			if (rm >= 0)
				in->dest = byte ? byte_reg(&k, rm) : rm;
		}
	} else if (op == 0xf6 || op == 0xf7) { /* test r/m, imm; not others */
		if (modrm(&k, &reg, &rm) && (reg & 7) <= 1 &&
		    take(&k, op == 0xf6 ? 1 : imm_z(&k)))
			in->kind = I_PLAIN;
	}
	in->len = k.i;
	if (in->kind != I_STOP && in->dest == INSN_RSP)
		in->kind = I_STOP; /* the return address moves away */
}

/*
 * The search of insn__place and insn__place_moved. holds[r]: the
 * registers that hold what r held at the entry; a write empties its
 * destination from every set, a 64-bit register copy adds it to its
 * source's sets. Without moves, each kept register must still hold its
 * own value; with them, some register must.
 */
static size_t place(const uint8_t *code, size_t len, uint32_t keep,
		    uint8_t at[16], bool moves)
{
	uint32_t holds[16];
	size_t off = 0;
	bool found = false;

	keep |= INSN_REG(INSN_RSP);
	for (int r = 0; r < 16; r++) {
		holds[r] = INSN_REG(r);
		if (at)
			at[r] = (uint8_t)r;
	}
	for (int n = 0; n < MAX_INSNS && off < len; n++) {
		struct insn in;

		decode(code + off, len - off, &in);
		if (in.kind == I_EMULATED) {
			found = true;
			break;
		}
		if (in.kind == I_STOP)
			return 0;
		if (in.dest >= 0) {
			for (int r = 0; r < 16; r++) {
				bool had = in.src >= 0 &&
					   (holds[r] & INSN_REG(in.src));

				holds[r] &= ~INSN_REG(in.dest);
				if (had)
					holds[r] |= INSN_REG(in.dest);
			}
			for (int r = 0; r < 16; r++)
				if ((keep & INSN_REG(r)) &&
				    !(holds[r] & (moves && r != INSN_RSP
							  ? ~0u
							  : INSN_REG(r))))
					return 0;
		}
		off += in.len;
	}
	if (!found || !off)
		return 0;
	for (int r = 0; r < 16 && at; r++)
		if (!(holds[r] & INSN_REG(r)))
			for (int h = 0; h < 16; h++)
				if (holds[r] & INSN_REG(h)) {
					at[r] = (uint8_t)h;
					break;
				}
	return off;
}

size_t insn__place(const uint8_t *code, size_t len, uint32_t keep)
{
	return place(code, len, keep, NULL, false);
}

size_t insn__place_moved(const uint8_t *code, size_t len, uint32_t keep,
			 uint8_t at[16])
{
	return place(code, len, keep, at, true);
}
