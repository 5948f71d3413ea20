/*
 * test_insn.c - unit tests of the entry-probe placement decoder
 * (daemon/insn.c), on the first bytes of the functions memwatch probes,
 * copied from Debian 12's libraries (objdump -d), and on sequences that
 * must keep the probe at the entry.
 */
#include <stdint.h>

#include "insn.h"
#include "unit.h"

#define PLACE(bytes, keep) insn__place(bytes, sizeof(bytes), keep)

/* glibc 2.36 free: test %rdi,%rdi; je (emulated): the je, at 3. */
static void test_glibc_free(void)
{
	static const uint8_t code[] = {0x48, 0x85, 0xff, 0x0f, 0x84, 0xbf,
				       0x00, 0x00, 0x00, 0x55};

	CHECK_U64(PLACE(code, INSN_REG(INSN_RDI)), 3);
}

/* glibc malloc: push %r12 first, emulated: the entry. */
static void test_glibc_malloc(void)
{
	static const uint8_t code[] = {0x41, 0x54, 0x55, 0x53};

	CHECK_U64(PLACE(code, INSN_REG(INSN_RDI)), 0);
}

/* jemalloc 5.3 free: ten instructions that read %rdi and write other
 * registers (a %fs-relative add with SIB and disp32 among them), then
 * jne at 0x30. */
static void test_jemalloc_free(void)
{
	static const uint8_t code[] = {
		0x48, 0x89, 0xf8,			    /* mov %rdi,%rax */
		0x48, 0x8b, 0x15, 0x0e, 0x53, 0x0a, 0x00,   /* mov rip,%rdx */
		0x48, 0x89, 0xf9,			    /* mov %rdi,%rcx */
		0x48, 0xc1, 0xe8, 0x1a,			    /* shr $26,%rax */
		0x48, 0x81, 0xe1, 0x00, 0x00, 0x00, 0xc0,   /* and imm,%rcx */
		0x25, 0xf0, 0x00, 0x00, 0x00,		    /* and $0xf0,%eax */
		0x64, 0x48, 0x03, 0x04, 0x25, 0x00, 0x00, 0x00,
		0x00,					    /* add %fs:0,%rax */
		0x48, 0x01, 0xd0,			    /* add %rdx,%rax */
		0x48, 0x3b, 0x88, 0xb0, 0x01, 0x00, 0x00,   /* cmp m,%rcx */
		0x0f, 0x85, 0x8a, 0x00, 0x00, 0x00,	    /* jne */
	};

	CHECK_U64(PLACE(code, INSN_REG(INSN_RDI)), 0x30);
}

/* tcmalloc 2.10 free: mov rip,%rax; test %rax,%rax; jne at 10. */
static void test_tcmalloc_free(void)
{
	static const uint8_t code[] = {0x48, 0x8b, 0x05, 0x59, 0xb1, 0x1b,
				       0x00, 0x48, 0x85, 0xc0, 0x0f, 0x85,
				       0x90, 0x00, 0x00, 0x00};

	CHECK_U64(PLACE(code, INSN_REG(INSN_RDI)), 10);
}

/* mimalloc 2.0 free: mov %rdi,%rcx; test %rdi,%rdi; je at 6. */
static void test_mimalloc_free(void)
{
	static const uint8_t code[] = {0x48, 0x89, 0xf9, 0x48,
				       0x85, 0xff, 0x74, 0x5d};

	CHECK_U64(PLACE(code, INSN_REG(INSN_RDI)), 6);
}

/* mimalloc 2.0 malloc: mov rip,%rax; mov %rdi,%rsi; mov %fs:(%rax),%rdi;
 * cmp $0x400,%rsi; ja at 0x15. %rdi is overwritten first: without moves
 * the entry; with them the ja, the size in %rsi. */
static void test_mimalloc_malloc(void)
{
	static const uint8_t code[] = {
		0x48, 0x8b, 0x05, 0x49, 0xb4, 0x00, 0x00,	  /* mov rip */
		0x48, 0x89, 0xfe,				  /* mov %rdi,%rsi */
		0x64, 0x48, 0x8b, 0x38,				  /* mov %fs:(%rax),%rdi */
		0x48, 0x81, 0xfe, 0x00, 0x04, 0x00, 0x00,	  /* cmp */
		0x77, 0x29,					  /* ja */
	};
	uint8_t at[16];

	CHECK_U64(PLACE(code, INSN_REG(INSN_RDI)), 0);
	CHECK_U64(insn__place_moved(code, sizeof(code), INSN_REG(INSN_RDI), at),
		  0x15);
	CHECK_U64(at[INSN_RDI], INSN_RSI);
	/* A 32-bit copy is no copy of the pointer-sized value. */
	{
		static const uint8_t narrow[] = {0x89, 0xfe, 0x31, 0xff, 0x77,
						 0x00};

		CHECK_U64(insn__place_moved(narrow, sizeof(narrow),
					    INSN_REG(INSN_RDI), at),
			  0);
	}
}

/* libstdc++ operator new: endbr64; test; mov $1,%eax; push %rbx at 12
 * (wrap_enter reads no argument, only the stack). */
static void test_libstdcxx_new(void)
{
	static const uint8_t code[] = {0xf3, 0x0f, 0x1e, 0xfa, 0x48,
				       0x85, 0xff, 0xb8, 0x01, 0x00,
				       0x00, 0x00, 0x53};

	CHECK_U64(PLACE(code, 0), 12);
}

/* What keeps the probe at the entry. */
static void test_stays_at_entry(void)
{
	/* The kept argument register is written first. */
	static const uint8_t writes_rdi[] = {0x48, 0x89, 0xf7, 0x74, 0x02};
	/* The stack pointer moves: the return address is no longer at
	 * [rsp]. */
	static const uint8_t sub_rsp[] = {0x48, 0x83, 0xec, 0x08, 0x74, 0x02};
	static const uint8_t pop[] = {0x5b, 0x74, 0x02};
	/* A byte register write without REX: %bh is %rbx, %ch is %rcx. */
	static const uint8_t mov_ch[] = {0xb5, 0x01, 0x74, 0x02};
	/* An instruction the decoder does not know (cpuid). */
	static const uint8_t unknown[] = {0x0f, 0xa2, 0x74, 0x02};
	/* A branch the kernel does not emulate: ret. */
	static const uint8_t ret[] = {0xc3, 0x74, 0x02};
	/* Cut short in the middle of an instruction. */
	static const uint8_t cut[] = {0x48, 0x8b};

	CHECK_U64(PLACE(writes_rdi, INSN_REG(INSN_RDI)), 0);
	CHECK_U64(PLACE(sub_rsp, 0), 0);
	CHECK_U64(PLACE(pop, 0), 0);
	CHECK_U64(PLACE(mov_ch, INSN_REG(INSN_RCX)), 0);
	CHECK_U64(PLACE(unknown, 0), 0);
	CHECK_U64(PLACE(ret, 0), 0);
	CHECK_U64(PLACE(cut, 0), 0);
	/* ... but the same write to a register nobody reads passes. */
	CHECK_U64(PLACE(mov_ch, INSN_REG(INSN_RDI)), 2);
	CHECK_U64(PLACE(writes_rdi, INSN_REG(INSN_RSI)), 3);
}

static const struct unit_case cases[] = {
    UNIT_CASE(test_glibc_free),	   UNIT_CASE(test_glibc_malloc),
    UNIT_CASE(test_jemalloc_free), UNIT_CASE(test_tcmalloc_free),
    UNIT_CASE(test_mimalloc_free), UNIT_CASE(test_mimalloc_malloc),
    UNIT_CASE(test_libstdcxx_new), UNIT_CASE(test_stays_at_entry),
};

int main(int argc, char **argv)
{
	return unit_main(argc, argv, cases, UNIT_NCASES(cases));
}
