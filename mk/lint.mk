# mk/lint.mk - make lint: cppcheck and clang-tidy over memwatch's own C
# (common/, engine/, store/, daemon/, ctl/ and the portable part of win/). Any warning fails:
# cppcheck with --error-exitcode=1, clang-tidy through .clang-tidy's
# WarningsAsErrors. A genuine false positive is suppressed where it is,
# with its reason (cppcheck-suppress / NOLINT), never here wholesale.
# tests/meta/lint.sh runs this from make check.

LINT_SRCS := $(COMMON_SRCS) $(ENGINE_SRCS) $(STORE_SRCS) $(DAEMON_SRCS) \
	$(CTL_SRCS) $(WIN_PORT_SRCS) win/etl_import.c
# The build's own -D and -I. The generated skeleton in $(OUT) is a system
# header to the checkers: bpftool's code is not ours to fix.
LINT_CPPFLAGS := -D_GNU_SOURCE -Icommon -Iengine -Istore -Idaemon -Ibpf -Ictl -Iwin

# cppcheck reads the headers of our tree only (system headers would make
# it slow and report on glibc); tests/lint/libbpf.cfg tells it what
# libbpf's LIBBPF_OPTS() macro declares, the one macro it cannot guess.
CPPCHECK ?= cppcheck
CPPCHECK_FLAGS := --enable=warning,portability,performance \
	--error-exitcode=1 --inline-suppr --quiet --std=c11 --language=c \
	--library=posix --library=tests/lint/libbpf.cfg \
	-D__linux__ -D__x86_64__ $(LINT_CPPFLAGS)
# The one check off for the whole tree: readdirCalled asks for readdir_r,
# which glibc deprecates (2.24) and POSIX.1-2024 removed; readdir is safe
# on a DIR stream that one thread owns, as each of ours is.
CPPCHECK_FLAGS += --suppress=readdirCalled

CLANG_TIDY ?= clang-tidy
# The top-level .clang-tidy for every file given, wherever it lies.
CLANG_TIDY_FLAGS := --quiet --config-file=.clang-tidy

.PHONY: lint lint-cppcheck lint-clang-tidy
lint: lint-cppcheck lint-clang-tidy

lint-cppcheck:
	$(call msg,CPPCHECK,$(words $(LINT_SRCS)) files)
	$(Q)$(CPPCHECK) $(CPPCHECK_FLAGS) $(LINT_SRCS)

# Each file with the flags it is compiled with; the skeleton must exist
# for daemon/ to parse. tests/lint/analyzer.h tells the analyzer how
# libbpf frees the skeleton. One clang-tidy per file: clang-tidy 14 given
# several files reports va_list misuse in every one after the first
# (analyzer state carried over), which a file alone never has. xargs
# exits non-zero if any of them failed.
LINT_JOBS ?= 2
lint-clang-tidy: $(OUT)/bpf/memwatch.skel.h $(OUT)/bpf/bench.skel.h
	$(call msg,TIDY,$(words $(LINT_SRCS)) files)
	$(Q)printf '%s\n' $(LINT_SRCS) | xargs -P $(LINT_JOBS) -I{} \
		$(CLANG_TIDY) $(CLANG_TIDY_FLAGS) {} -- -std=gnu11 \
		$(LINT_CPPFLAGS) -isystem $(OUT)/bpf -include tests/lint/analyzer.h
