# mk/sanitize.mk - make SANITIZE=address,undefined [all|check|...]: the
# user-space C (memwatchd, memwatchctl, mwreplay, gen_db, the unit tests)
# built with the compiler's sanitizers, in a tree of its own: the Makefile
# sets OUT to .output/san-address-undefined, so no sanitized object is ever
# linked with a plain one. The BPF object is built as always (no sanitizer
# runs in the kernel) and so are the workloads: they are the traced
# programs, and must stay the plain programs a user would run.
#
# `make check SANITIZE=...` runs the unit and end-to-end tests on that tree
# (tests/run.sh and tests/e2e/lib.sh read MW_OUT). Every sanitizer report
# is a failure: UBSan aborts on the first error (-fno-sanitize-recover),
# LeakSanitizer runs at every exit of a sanitized program, and each report
# goes to a file in MW_SAN_LOGS, which tests/run.sh turns into a FAIL line
# of the suite that produced it, whether or not the suite looked at the
# exit status (a daemon stopped by a suite's exit trap, say).

# Where the tests find the binaries: .output, or the sanitized tree.
export MW_OUT := $(OUT)

ifneq ($(SANITIZE),)
# Frame pointers: whole stacks in reports, cheaply (ASan's fast unwinder).
SAN_FLAGS := -fsanitize=$(SANITIZE) -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
# Recipes expand ALL_CFLAGS when they run, so this reaches every compile
# and link that uses it; WL_FLAGS (workloads) and the BPF rule do not.
ALL_CFLAGS += $(SAN_FLAGS)
# clang by default: GCC 12's libubsan is a runtime apart from libasan and
# writes its reports to stderr whatever log_path says, where a daemon's
# report is easily lost; clang links one runtime that honours log_path.
# Only the user-space programs (and, being their prerequisites, their
# objects): the workloads keep CC, so they stay the programs the tests
# are written for.
# (Its runtimes are libclang-rt-14-dev's, in DEPS_PKGS.)
SAN_CC ?= clang
$(BINS) $(OUT)/mwreplay $(UNIT_BINS) $(OUT)/gen_db $(OUT)/tests/test_etw $(OUT)/%.o: \
	CC := $(SAN_CC)

# Suites that run make themselves (windows.sh, packaging.sh) build in the
# same tree: SANITIZE goes down in the environment too.
export SANITIZE
export MW_SAN_LOGS := $(abspath $(OUT))/san-logs
# log_path: a report is a file (NAME.PID) that tests/run.sh finds, even
# from a process whose stderr nobody reads. abort_on_error: a core-style
# death (SIGABRT) the suites notice. detect_leaks: LeakSanitizer at exit.
# A caller's own *SAN_OPTIONS win.
# One runtime reads both: the same log_path in each (report.PID).
ASAN_OPTIONS ?= detect_leaks=1:abort_on_error=1:log_path=$(MW_SAN_LOGS)/report
UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1:log_path=$(MW_SAN_LOGS)/report
export ASAN_OPTIONS UBSAN_OPTIONS

# tests/meta/valgrind.sh runs the plain memwatchd (valgrind cannot run an
# ASan binary) and make bench's short pass in tests/meta/bench_short.sh
# times the plain build: both need .output as well.
.PHONY: san-plain
check: san-plain
san-plain: deps
	$(MAKE) SANITIZE= all tests

# Each run starts with no report left from an earlier one.
check: san-clean-logs
.PHONY: san-clean-logs
san-clean-logs:
	$(Q)rm -rf $(MW_SAN_LOGS) && mkdir -p $(MW_SAN_LOGS)
endif
