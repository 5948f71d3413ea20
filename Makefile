# Makefile - memwatch, non-recursive. Build output goes to .output/.
#   make            build the product: memwatchd, memwatchctl
#   make tests      build the tests, workloads and fuzzers
#   make demo       install missing packages, build, run the demo
#   make check      install missing packages, build, run every test
#                   (T="SUITE..." or T="-k PATTERN": some; tests/run.sh --help)
#   make check-kernels  the same for the vm suites alone: the e2e suites in
#                   QEMU guests booting Debian's 6.1 and 6.12 (tests/vm/)
#   make bench-kernels  tests/bench/kernel.sh's figures in those guests
#   make V=1 ...    show full commands

# make SANITIZE=address,undefined builds in a tree of its own (mk/sanitize.mk):
# sanitized and plain objects must never mix.
comma := ,
OUT := .output$(if $(SANITIZE),/san-$(subst $(comma),-,$(SANITIZE)))
CC ?= cc
CLANG ?= clang
BPFTOOL ?= bpftool

# Debian packages `make demo` needs, and no more (`make demo-deps` installs
# the missing ones): what builds memwatchd, memwatchctl and the demo's
# program, and jq, which tests/demo.sh reads the findings with. The
# libraries the programs link: libbpf, libelf, zlib, libdw, SQLite,
# libmicrohttpd (/metrics), libsystemd (sd_notify, the journal),
# libsmartcols (memwatchctl's tables); g++ for libstdc++'s demangler.
# tests/meta/deps.sh holds it to a strict subset of DEPS_PKGS without
# the tests' tools, and to the libraries the demo's build links.
DEMO_PKGS := clang libbpf-dev bpftool libelf-dev zlib1g-dev libsqlite3-dev \
	libdw-dev libmicrohttpd-dev libsystemd-dev libsmartcols-dev make gcc g++ jq
# Debian packages the build and every test need; `make deps` installs
# missing ones: the demo's and the tests' tools, workloads and references.
DEPS_PKGS := $(DEMO_PKGS) llvm sqlite3 procps python3 memcached \
	nginx-light redis-server redis-tools apache2-utils postgresql \
	openjdk-17-jdk-headless nodejs \
	libmimalloc-dev libjemalloc-dev libgoogle-perftools-dev \
	bpftrace heaptrack
# prometheus: the real Prometheus and promtool tests/e2e/prometheus.sh
# runs the dashboards and alert rules on.
DEPS_PKGS += prometheus
# golang-go: go tool pprof reads memwatchctl's pprof export in tests/e2e/export.sh.
DEPS_PKGS += golang-go
# curl: tests/e2e/prometheus.sh reads /metrics and Prometheus' HTTP API.
DEPS_PKGS += curl
# debuginfod: tests/e2e/debuginfod.sh serves a stripped program's debug file
# on 127.0.0.1 (libdebuginfod1, which libdw loads, comes with it).
DEPS_PKGS += debuginfod
# valgrind: callgrind counts the engine's instructions per event (make bench).
DEPS_PKGS += valgrind
# groff-base, man-db: tests/meta/docs.sh renders the man pages with groff -ww
# and reads their NAME lines with lexgrog.
DEPS_PKGS += groff-base man-db
# debhelper (dpkg-buildpackage is dpkg-dev's), rpm (rpmbuild): make deb and
# make rpm, which tests/meta/packaging.sh builds, installs and removes;
# lintian checks the .deb there.
DEPS_PKGS += debhelper dpkg-dev rpm lintian
# mingw-w64 and wine: make windows cross-compiles the Windows collector,
# tests/meta/windows.sh runs its tests under wine.
DEPS_PKGS += gcc-mingw-w64-x86-64 wine64
# g++-mingw-w64 (libstdc++.a: the demangler), libz-mingw-w64-dev (zlib for
# pprof): memwatchctl.exe. wine64-tools (winegcc, winebuild): the test
# stand-in for winsqlite3.dll that lets the Windows store run under wine.
DEPS_PKGS += g++-mingw-w64-x86-64 libz-mingw-w64-dev wine64-tools
# debootstrap, systemd-container (systemd-nspawn): tests/e2e/systemd.sh boots
# a Debian with systemd in a container and runs the package's unit there.
DEPS_PKGS += debootstrap systemd-container
# libclang-rt-14-dev: libFuzzer and the sanitizer runtimes clang links the
# fuzz harnesses with (mk/fuzz.mk); clang only recommends it.
DEPS_PKGS += libclang-rt-14-dev
# e2fsprogs (mkfs.ext4, chattr): the read-only database of tests/e2e/faults.sh.
DEPS_PKGS += e2fsprogs
# cppcheck, clang-tidy: make lint (mk/lint.mk), run by tests/meta/lint.sh.
DEPS_PKGS += cppcheck clang-tidy
# qemu-system-x86 boots Debian's 6.1 and 6.12 kernels for the vm suites
# (tests/vm/, make check-kernels); busybox-static is their initramfs, built
# with cpio, from modules xz-utils unpacks and kmod's depmod indexes.
DEPS_PKGS += qemu-system-x86 busybox-static cpio xz-utils kmod

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Wno-unused-parameter -Wmissing-prototypes -Wstrict-prototypes
ALL_CFLAGS := $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -MMD -MP
ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

# --- the flow, folder by folder ----------------------------------------------
# common <- engine <- store <- {daemon, ctl, win}: each folder is compiled
# with the include paths of itself and what it may depend on, and no
# more, so an include against the flow does not build.
INC_common := -Icommon
INC_engine := $(INC_common) -Iengine
INC_store := $(INC_engine) -Istore
INC_daemon := $(INC_store) -Idaemon -Ibpf -I$(OUT)/bpf
# ctl reaches win/ for import's one call (win/etl_import.h, no engine type).
INC_ctl := -Icommon -Istore -Ictl -Iwin
INC_tests := $(INC_daemon) -Ictl -Itests/unit -Itests/support

COMMON_SRCS := $(wildcard common/*.c)
ENGINE_SRCS := $(wildcard engine/*.c)
STORE_SRCS := $(wildcard store/*.c)
DAEMON_SRCS := $(wildcard daemon/*.c)
CTL_SRCS := $(wildcard ctl/*.c)
# Objects mirror the source tree under $(OUT).
obj = $(patsubst %.c,$(OUT)/%.o,$(1))
COMMON_OBJS := $(call obj,$(COMMON_SRCS))
# engine_check.c is the invariant checker of the tests and the engine
# fuzzer, never linked into the product.
ENGINE_OBJS := $(call obj,$(filter-out engine/engine_check.c,$(ENGINE_SRCS)))
STORE_OBJS := $(call obj,$(STORE_SRCS)) $(OUT)/store/schema.o
DAEMON_OBJS := $(call obj,$(DAEMON_SRCS))
CTL_OBJS := $(call obj,$(CTL_SRCS))
# What the engine's users link: common and the engine.
LIB_OBJS := $(COMMON_OBJS) $(ENGINE_OBJS)

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
# What the tests share (tests/support/): the recording sink. The engine's
# unit tests (test_engine*.c but the checker's) share a fixture as well, a
# store model and event helpers (tests/support/engine_fixture.h).
SUPPORT_OBJS := $(call obj,$(filter-out tests/support/engine_fixture.c,\
	$(wildcard tests/support/*.c)))
ENGINE_FIXTURE := $(OUT)/tests/support/engine_fixture.o
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUT)/tests/%,$(UNIT_SRCS))
# tls_module.c is a plugin, plant.c a library to LD_PRELOAD; mi_api.c and
# je_api.c need their allocator libraries (API_BINS below), so none of
# them is a plain program.
WORKLOAD_C := $(filter-out tests/workloads/tls_module.c tests/workloads/plant.c \
	tests/workloads/mi_api.c tests/workloads/je_api.c, \
	$(wildcard tests/workloads/*.c))
WORKLOAD_CXX := $(wildcard tests/workloads/*.cc)
# Leak/clean twins: tests/workloads/X.c builds X and, with -DMW_CLEAN, X_clean;
# tests/workloads/X_leak.cc builds X_leak and, with -DMW_CLEAN, X_clean.
TWINS_C := queue_retain pool_cache dlclose_tls tls_overwrite custom_pool \
	pool_race tls_list
TWINS_CXX := tls_cxx
TWIN_C_BINS := $(patsubst %,$(OUT)/workloads/%_clean,$(TWINS_C))
TWIN_CXX_BINS := $(patsubst %,$(OUT)/workloads/%_clean,$(TWINS_CXX))
# The same program linked with each allocator Debian packages.
ALLOC_LINKED := jemalloc:-ljemalloc tcmalloc:-ltcmalloc_minimal \
	mimalloc:-lmimalloc
ALLOC_BINS := $(foreach a,$(ALLOC_LINKED),$(OUT)/workloads/tls_nodtor_$(firstword $(subst :, ,$(a))))
# Allocator APIs (the plain cxx_new and custom_alloc are in WORKLOAD_*):
# cxx_new.cc linked with each allocator too, so operator new/delete are
# the allocator's; mi_api.c with mimalloc; je_api.c twice: je_api_so with
# Debian's libjemalloc.so, je_api (-DMW_JE_PREFIX) with JE_ARCHIVE, a copy
# of Debian's libjemalloc_pic.a whose public symbols have a je_ prefix
# (tests/workloads/je_prefix.syms) and without its C++ operators.
OBJCOPY ?= objcopy
NM ?= nm
CXX_NEW_BINS := $(foreach a,$(ALLOC_LINKED),$(OUT)/workloads/cxx_new_$(firstword $(subst :, ,$(a))))
JE_PIC := $(shell $(CC) -print-file-name=libjemalloc_pic.a)
JE_ARCHIVE := $(OUT)/workloads/libjemalloc_je.a
API_BINS := $(CXX_NEW_BINS) $(OUT)/workloads/mi_api \
	$(OUT)/workloads/je_api_so $(OUT)/workloads/je_api
WORKLOADS := $(patsubst tests/workloads/%.c,$(OUT)/workloads/%,$(WORKLOAD_C)) \
	$(OUT)/workloads/deep_stack_fp $(OUT)/workloads/deep_stack_cxx_fp \
	$(patsubst tests/workloads/%.cc,$(OUT)/workloads/%,$(WORKLOAD_CXX)) \
	$(TWIN_C_BINS) $(TWIN_CXX_BINS) $(OUT)/workloads/tls_nodtor_static \
	$(ALLOC_BINS) $(API_BINS) $(OUT)/workloads/libmwplant.so

# The product: what `make` builds and the packages ship.
BINS := $(OUT)/memwatchd $(OUT)/memwatchctl
# Everything the tests run besides the product (`make tests`); other
# makefiles (mk/*.mk) add theirs.
TEST_BINS := $(OUT)/mwreplay $(UNIT_BINS) $(WORKLOADS) $(OUT)/gen_db

.PHONY: all tests deps demo-deps print-deps demo check check-kernels test clean bench bench-kernels
all: $(BINS)
tests: $(TEST_BINS)

# deps: every package (DEPS_PKGS); demo-deps: the demo's (DEMO_PKGS).
deps: PKGS = $(DEPS_PKGS)
demo-deps: PKGS = $(DEMO_PKGS)
deps demo-deps:
	@missing=$$(for p in $(PKGS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq $$missing >/dev/null || exit 1; \
	fi

# The two sets, one a line, for tests/meta/deps.sh.
print-deps:
	@echo "demo: $(DEMO_PKGS)"
	@echo "check: $(DEPS_PKGS)"

# The product and the demo's program only: the other workloads and the
# tests want packages the demo does not install.
demo: demo-deps
	$(MAKE) all $(OUT)/workloads/demo_leaky
	tests/demo.sh

# tests/run.sh takes suite names and -k PATTERN: make check T="unit golden"
# runs those alone (tests/run.sh --help).
check: deps
	$(MAKE) all tests
	tests/run.sh $(T)

# The vm group of tests/run.sh: one suite per guest kernel (tests/vm/run.sh).
check-kernels: deps
	$(MAKE) all tests
	tests/run.sh vm

# Ratios measured in one run, never pass/fail: see tests/bench/ and
# docs/PERFORMANCE.md.
bench: deps
	$(MAKE) all tests
	tests/bench/run.sh

# The same kind of figures per kernel, in QEMU guests (tests/vm/bench.sh).
bench-kernels: deps
	$(MAKE) all tests
	tests/vm/bench.sh

# Every object's directory, made before it is compiled. Nothing built is
# an intermediate file to delete (the directories' marks, the BPF object).
.SECONDARY:
$(OUT)/%/.dir:
	$(Q)mkdir -p $(@D) && touch $@

# --- BPF --------------------------------------------------------------------
# CO-RE: the object is compiled against a vmlinux.h checked in per
# architecture (bpf/vmlinux/ARCH/vmlinux.h), never the build machine's
# kernel, so one build loads on every supported kernel.
$(OUT)/bpf/%.bpf.o: bpf/%.bpf.c bpf/memwatch.h bpf/vmlinux/$(ARCH)/vmlinux.h | $(OUT)/bpf/.dir
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) \
		-Ibpf/vmlinux/$(ARCH) -Ibpf -c $< -o $@

$(OUT)/bpf/%.skel.h: $(OUT)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst .,_,$*)_bpf > $@.tmp && mv $@.tmp $@

# --- C ----------------------------------------------------------------------
$(OUT)/store/schema.c: $(sort $(wildcard schema/*.sql)) schema/embed.sh | $(OUT)/store/.dir
	$(call msg,GEN,$@)
	$(Q)schema/embed.sh $(sort $(wildcard schema/*.sql)) > $@.tmp && mv $@.tmp $@

$(OUT)/common/%.o: common/%.c | $(OUT)/common/.dir
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(INC_common) -c $< -o $@

$(OUT)/engine/%.o: engine/%.c | $(OUT)/engine/.dir
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(INC_engine) -c $< -o $@

$(OUT)/store/%.o: store/%.c | $(OUT)/store/.dir
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(INC_store) -c $< -o $@

$(OUT)/store/schema.o: $(OUT)/store/schema.c
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(INC_store) -c $< -o $@

$(OUT)/daemon/%.o: daemon/%.c $(OUT)/bpf/memwatch.skel.h | $(OUT)/daemon/.dir
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(INC_daemon) -c $< -o $@

# --bench-floor's programs (bpf/bench.bpf.c), in an object of their own.
$(OUT)/daemon/collector.o: $(OUT)/bpf/bench.skel.h

$(OUT)/ctl/%.o: ctl/%.c | $(OUT)/ctl/.dir
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(INC_ctl) -c $< -o $@

$(OUT)/memwatchd: $(DAEMON_OBJS) $(LIB_OBJS) $(STORE_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $^ -o $@ -lbpf -lelf -lz -ldw -lsqlite3 -lmicrohttpd -lsystemd \
		-lstdc++

# libstdc++ for its C++ demangler, to show C++ sites as people write them;
# zlib to gzip the pprof export; libsmartcols for the tables.
# memwatchctl import: an ETW trace through win/'s portable decoding.
IMPORT_OBJS := $(call obj,win/etl_import.c win/etl_feed.c win/etl_file.c \
	win/xca.c win/etw_decode.c)
$(OUT)/memwatchctl: $(CTL_OBJS) $(IMPORT_OBJS) $(LIB_OBJS) $(STORE_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $^ -o $@ -lsqlite3 -lstdc++ -lz -lsmartcols

# Replays a text event stream through the engine: golden tests and demos.
# Its .d (-MMD) adds headers to $^: only sources and objects are linked.
$(OUT)/mwreplay: tests/mwreplay.c $(SUPPORT_OBJS) $(LIB_OBJS) | $(OUT)/tests/.dir
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(INC_engine) -Itests/support $(filter %.c %.o,$^) -o $@

$(OUT)/tests/support/%.o: tests/support/%.c | $(OUT)/tests/support/.dir
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(INC_engine) -Itests/support -c $< -o $@

$(OUT)/tests/%: tests/unit/%.c tests/unit/unit.h $(SUPPORT_OBJS) $(LIB_OBJS) $(STORE_OBJS) | $(OUT)/tests/.dir
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(INC_tests) $< $(SUPPORT_OBJS) $(LIB_OBJS) $(STORE_OBJS) \
		$(UNIT_EXTRA) -o $@ -lsqlite3

# A synthetic database for timing memwatchctl's queries (tests/bench/query.sh).
# The engine too: store/flush.o calls it.
$(OUT)/gen_db: tests/bench/gen_db.c $(STORE_OBJS) $(LIB_OBJS) | $(OUT)/tests/.dir
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(INC_store) $< $(STORE_OBJS) $(LIB_OBJS) -o $@ -lsqlite3 -lm

# Daemon pieces with no OS calls, tested alone.
$(OUT)/tests/test_insn: UNIT_EXTRA := $(OUT)/daemon/insn.o
$(OUT)/tests/test_insn: $(OUT)/daemon/insn.o
$(OUT)/tests/test_symindex: UNIT_EXTRA := $(OUT)/daemon/symindex.o -ldw -lelf
$(OUT)/tests/test_symindex: $(OUT)/daemon/symindex.o
# The symbolizer's worker thread, on this test's own ELF file and DWARF.
$(OUT)/tests/test_symworker: UNIT_EXTRA := $(OUT)/daemon/symworker.o \
	$(OUT)/daemon/symindex.o -ldw -lelf
$(OUT)/tests/test_symworker: $(OUT)/daemon/symworker.o $(OUT)/daemon/symindex.o
# Findings as events, on a real store and engine; the journal's
# sd_journal_send linked, never called (journal off).
$(OUT)/tests/test_emitter: UNIT_EXTRA := $(OUT)/daemon/emitter.o \
	$(OUT)/daemon/log.o -lsystemd
$(OUT)/tests/test_emitter: $(OUT)/daemon/emitter.o $(OUT)/daemon/log.o
$(OUT)/tests/test_parallel: UNIT_EXTRA := $(OUT)/daemon/parallel.o
$(OUT)/tests/test_parallel: $(OUT)/daemon/parallel.o
# wrapper.c demangles C++ names for --wrapper with libstdc++'s demangler.
$(OUT)/tests/test_wrapper: UNIT_EXTRA := $(OUT)/daemon/wrapper.o -lstdc++
$(OUT)/tests/test_wrapper: $(OUT)/daemon/wrapper.o
ENGINE_TESTS := $(filter-out %/test_engine_check,\
	$(filter $(OUT)/tests/test_engine%,$(UNIT_BINS)))
$(ENGINE_TESTS): UNIT_EXTRA := $(ENGINE_FIXTURE)
$(ENGINE_TESTS): $(ENGINE_FIXTURE)
# rowfmt.c and the json.c it writes through, held to memwatchctl's former
# JSON and CSV (tests/unit/test_rowfmt.c); outfile.o for that CSV's errors.
$(OUT)/tests/test_rowfmt: UNIT_EXTRA := $(OUT)/ctl/rowfmt.o $(OUT)/ctl/json.o \
	$(OUT)/ctl/outfile.o
$(OUT)/tests/test_rowfmt: $(OUT)/ctl/rowfmt.o $(OUT)/ctl/json.o \
	$(OUT)/ctl/outfile.o

# Workloads are built without optimisation tricks that would hide call
# sites, and with frame pointers so stacks are whole.
WL_FLAGS := -O1 -g -fno-omit-frame-pointer -fno-optimize-sibling-calls \
	-Wall -pthread -MMD -MP

$(OUT)/workloads/%: tests/workloads/%.c | $(OUT)/workloads/.dir
	$(call msg,CC,$@)
	$(Q)$(CC) $(WL_FLAGS) $< -o $@ -ldl

$(OUT)/workloads/%: tests/workloads/%.cc | $(OUT)/workloads/.dir
	$(call msg,CXX,$@)
	$(Q)$(CXX) $(WL_FLAGS) $< -o $@ -ldl

# The clean twins (TWINS_C, TWINS_CXX above): the same source, -DMW_CLEAN.
$(TWIN_C_BINS): $(OUT)/workloads/%_clean: tests/workloads/%.c | $(OUT)/workloads/.dir
	$(call msg,CC,$@)
	$(Q)$(CC) $(WL_FLAGS) -DMW_CLEAN $< -o $@ -ldl

$(TWIN_CXX_BINS): $(OUT)/workloads/%_clean: tests/workloads/%_leak.cc | $(OUT)/workloads/.dir
	$(call msg,CXX,$@)
	$(Q)$(CXX) $(WL_FLAGS) -DMW_CLEAN $< -o $@ -ldl

# deep_stack and deep_stack_cxx are the stacks of code built as Debian
# builds it: optimised, no frame pointers; their _fp twins keep them.
DEEP_NOFP := -O2 -g -fomit-frame-pointer -Wall -pthread -MMD -MP
DEEP_FP := -O2 -g -fno-omit-frame-pointer -Wall -pthread -MMD -MP
$(OUT)/workloads/deep_stack $(OUT)/workloads/deep_stack_cxx: WL_FLAGS := $(DEEP_NOFP)
$(OUT)/workloads/deep_stack_fp: tests/workloads/deep_stack.c | $(OUT)/workloads/.dir
	$(call msg,CC,$@)
	$(Q)$(CC) $(DEEP_FP) $< -o $@
$(OUT)/workloads/deep_stack_cxx_fp: tests/workloads/deep_stack_cxx.cc | $(OUT)/workloads/.dir
	$(call msg,CXX,$@)
	$(Q)$(CXX) $(DEEP_FP) $< -o $@

# tls_module.c is no program (WORKLOAD_C leaves it out) but the plugin
# that dlclose_tls and dlclose_tls_clean dlopen from their own directory.
$(OUT)/workloads/libmwtlsmod.so: tests/workloads/tls_module.c \
		tests/workloads/workload.h | $(OUT)/workloads/.dir
	$(call msg,CC,$@)
	$(Q)$(CC) -O1 -g -fno-omit-frame-pointer -fno-optimize-sibling-calls \
		-Wall -fPIC -shared -pthread $< -o $@

# plant.c: the planted TLS leak the real-program suite LD_PRELOADs into
# programs from Debian.
$(OUT)/workloads/libmwplant.so: tests/workloads/plant.c | $(OUT)/workloads/.dir
	$(call msg,CC,$@)
	$(Q)$(CC) -O1 -g -fno-omit-frame-pointer -fno-optimize-sibling-calls \
		-Wall -fPIC -shared -pthread $< -o $@ -ldl

$(OUT)/workloads/dlclose_tls $(OUT)/workloads/dlclose_tls_clean: | \
	$(OUT)/workloads/libmwtlsmod.so

$(ALLOC_BINS): $(OUT)/workloads/tls_nodtor_%: tests/workloads/tls_nodtor.c | $(OUT)/workloads/.dir
	$(call msg,CC,$@)
	$(Q)$(CC) $(WL_FLAGS) $< -o $@ \
		$(lastword $(subst :, ,$(filter $*:%,$(ALLOC_LINKED))))

# The allocator APIs (API_BINS above). cxx_new.cc wants C++17 (aligned
# new) whatever the compiler's default; the allocator's library comes
# before libstdc++, so its operator new/delete are the ones bound.
$(OUT)/workloads/cxx_new: tests/workloads/cxx_new.cc | $(OUT)/workloads/.dir
	$(call msg,CXX,$@)
	$(Q)$(CXX) $(WL_FLAGS) -std=gnu++17 $< -o $@ -ldl

$(CXX_NEW_BINS): $(OUT)/workloads/cxx_new_%: tests/workloads/cxx_new.cc | $(OUT)/workloads/.dir
	$(call msg,CXX,$@)
	$(Q)$(CXX) $(WL_FLAGS) -std=gnu++17 $< -o $@ -ldl \
		$(lastword $(subst :, ,$(filter $*:%,$(ALLOC_LINKED))))

$(OUT)/workloads/mi_api: tests/workloads/mi_api.c | $(OUT)/workloads/.dir
	$(call msg,CC,$@)
	$(Q)$(CC) $(WL_FLAGS) $< -o $@ -lmimalloc

$(OUT)/workloads/je_api_so: tests/workloads/je_api.c | $(OUT)/workloads/.dir
	$(call msg,CC,$@)
	$(Q)$(CC) $(WL_FLAGS) $< -o $@ -ljemalloc

# Fails if the archive keeps a public symbol je_prefix.syms does not rename.
$(JE_ARCHIVE): $(JE_PIC) tests/workloads/je_prefix.syms | $(OUT)/workloads/.dir
	$(call msg,OBJCOPY,$@)
	$(Q)$(OBJCOPY) --redefine-syms=tests/workloads/je_prefix.syms $< $@.tmp && \
		$(AR) d $@.tmp jemalloc_cpp.pic.o && \
		left=$$($(NM) -g --defined-only $@.tmp | \
			awk 'NF == 3 && $$3 !~ /^je_/ { print $$3 }') && \
		if [ -n "$$left" ]; then \
			echo "$@: public symbols without je_:" $$left >&2; \
			rm -f $@.tmp; exit 1; \
		fi && mv $@.tmp $@

# jemalloc inside the executable: -lm for its exp/log/round.
$(OUT)/workloads/je_api: tests/workloads/je_api.c $(JE_ARCHIVE) | $(OUT)/workloads/.dir
	$(call msg,CC,$@)
	$(Q)$(CC) $(WL_FLAGS) -DMW_JE_PREFIX $< $(JE_ARCHIVE) -o $@ -lm -ldl

# A static binary: malloc, free and the TLS functions are in it.
$(OUT)/workloads/tls_nodtor_static: tests/workloads/tls_nodtor.c | $(OUT)/workloads/.dir
	$(call msg,CC,$@)
	$(Q)$(CC) $(WL_FLAGS) -static $< -o $@

# --- packages ---------------------------------------------------------------
# make deb: .output/deb/memwatch_VERSION_ARCH.deb; make rpm:
# .output/rpm/memwatch-VERSION-1.ARCH.rpm (Release 1, packaging/memwatch.spec).
# Each compiles its own copy of the sources listed here, from scratch
# (packaging/build-package.sh), and is rebuilt when one of them changes.
# The version is the one memwatchd --version prints. Nothing here runs a
# command unless a package is asked for.
.PHONY: deb rpm
PKG_TREE := Makefile README.md LICENSE bpf common engine store ctl win daemon schema docs packaging dashboards
ifneq ($(filter deb rpm %.deb %.rpm,$(MAKECMDGOALS)),)
MW_VERSION := $(shell sed -n 's/^.define VERSION "\(.*\)"$$/\1/p' common/version.h)
# The tree's files but what .gitignore leaves out (databases), with the
# new ones not yet committed; all of them outside a git work tree.
PKG_FILES := $(wildcard $(shell git ls-files -co --exclude-standard -- $(PKG_TREE) 2>/dev/null))
ifeq ($(PKG_FILES),)
PKG_FILES := $(shell find $(PKG_TREE) -type f)
endif
DEB := $(OUT)/deb/memwatch_$(MW_VERSION)_$(shell dpkg --print-architecture).deb
RPM := $(OUT)/rpm/memwatch-$(MW_VERSION)-1.$(shell uname -m).rpm

$(DEB): $(PKG_FILES)
	$(call msg,DEB,$@)
	$(Q)packaging/build-package.sh deb $@ $(MW_VERSION) $(PKG_FILES)

$(RPM): $(PKG_FILES)
	$(call msg,RPM,$@)
	$(Q)packaging/build-package.sh rpm $@ $(MW_VERSION) $(PKG_FILES)
endif

deb: $(DEB)
rpm: $(RPM)

# --- windows: the ETW collector, cross-compiled (docs/WINDOWS.md) -----------
# win/etw_decode.c, win/wintls.c, win/etl_file.c, win/etl_feed.c and
# win/xca.c are portable: built natively too, for .output/tests/test_etw and etl_dump.
# Everything else in win/ is Windows-only. SQLite comes from the host:
# winsqlite3.dll (Windows 10 and later), through an import library made
# from win/winsqlite3.def, delay-loaded so that memwatchw can say it is
# missing instead of failing to start.
WIN_CC ?= x86_64-w64-mingw32-gcc
WIN_DLLTOOL ?= x86_64-w64-mingw32-dlltool
WIN_OUT := $(OUT)/mingw
WIN_PORT_SRCS := win/etw_decode.c win/etw_merge.c win/etw_session_port.c \
	win/wintls.c win/etl_file.c win/xca.c win/etl_feed.c
WIN_PORT_OBJS := $(call obj,$(WIN_PORT_SRCS))
WIN_CFLAGS := -O2 -g $(WARN) -std=gnu11 -D__USE_MINGW_ANSI_STDIO=1 \
	-D_WIN32_WINNT=0x0A00 -DUNICODE -D_UNICODE -MMD -MP \
	$(INC_store) -Iwin -I$(WIN_OUT)/inc
wobj = $(patsubst %.c,$(WIN_OUT)/%.o,$(1))
WIN_LIB_OBJS := $(call wobj,$(COMMON_SRCS) $(filter-out engine/engine_check.c,$(ENGINE_SRCS)))
WIN_STORE_OBJS := $(call wobj,$(STORE_SRCS)) $(WIN_OUT)/store/schema.o
WIN_OBJS := $(call wobj,$(WIN_PORT_SRCS)) \
	$(WIN_OUT)/win/etw_session.o $(WIN_OUT)/win/winsym.o $(WIN_OUT)/win/winsqlite.o
# memwatchctl: the same ctl/ sources, win/posix_compat.h filling in what
# mingw lacks; zlib (pprof), libstdc++ (the demangler) and winpthread
# (clock_gettime) linked in, so that it needs no DLL Windows does not ship.
WIN_CTL_OBJS := $(call wobj,$(CTL_SRCS))
WIN_BINS := $(WIN_OUT)/test_etw.exe $(WIN_OUT)/memwatchw.exe \
	$(WIN_OUT)/memwatchctl.exe

.PHONY: windows
windows: $(WIN_BINS)

tests: $(OUT)/tests/test_etw $(OUT)/tests/etl_dump

$(OUT)/win/%.o: win/%.c | $(OUT)/win/.dir
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(INC_store) -Iwin -c $< -o $@

$(OUT)/tests/test_etw: tests/win/test_etw.c tests/unit/unit.h $(WIN_PORT_OBJS) \
		$(SUPPORT_OBJS) $(LIB_OBJS) $(STORE_OBJS) | $(OUT)/tests/.dir
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(INC_tests) -Iwin $< $(WIN_PORT_OBJS) \
		$(SUPPORT_OBJS) $(LIB_OBJS) $(STORE_OBJS) -o $@ -lsqlite3

# The .etl reader's test tool (tests/meta/etl.sh): the reader, and the
# decoder it feeds with --decode.
$(OUT)/tests/etl_dump: tests/win/etl_dump.c $(WIN_PORT_OBJS) $(LIB_OBJS) \
		| $(OUT)/tests/.dir
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(INC_engine) -Iwin $< $(WIN_PORT_OBJS) $(LIB_OBJS) -o $@

# Debian's sqlite3.h (libsqlite3-dev) declares the same API on Windows.
$(WIN_OUT)/inc/sqlite3.h: /usr/include/sqlite3.h | $(WIN_OUT)/inc/.dir
	$(Q)cp $< $@

$(WIN_OUT)/common/%.o: common/%.c | $(WIN_OUT)/common/.dir
	$(call msg,WINCC,$@)
	$(Q)$(WIN_CC) $(WIN_CFLAGS) -c $< -o $@

$(WIN_OUT)/engine/%.o: engine/%.c | $(WIN_OUT)/engine/.dir
	$(call msg,WINCC,$@)
	$(Q)$(WIN_CC) $(WIN_CFLAGS) -c $< -o $@

# The store is POSIX: win/posix_compat.h fills what mingw lacks.
$(WIN_OUT)/store/%.o: store/%.c win/posix_compat.h $(WIN_OUT)/inc/sqlite3.h | $(WIN_OUT)/store/.dir
	$(call msg,WINCC,$@)
	$(Q)$(WIN_CC) $(WIN_CFLAGS) -include win/posix_compat.h -c $< -o $@

$(WIN_OUT)/store/schema.o: $(OUT)/store/schema.c | $(WIN_OUT)/store/.dir
	$(call msg,WINCC,$@)
	$(Q)$(WIN_CC) $(WIN_CFLAGS) -c $< -o $@

$(WIN_OUT)/win/%.o: win/%.c $(WIN_OUT)/inc/sqlite3.h | $(WIN_OUT)/win/.dir
	$(call msg,WINCC,$@)
	$(Q)$(WIN_CC) $(WIN_CFLAGS) -c $< -o $@

$(WIN_OUT)/ctl/%.o: ctl/%.c win/posix_compat.h $(WIN_OUT)/inc/sqlite3.h | $(WIN_OUT)/ctl/.dir
	$(call msg,WINCC,$@)
	$(Q)$(WIN_CC) $(WIN_CFLAGS) -Ictl -include win/posix_compat.h -c $< -o $@

$(WIN_OUT)/libwinsqlite3.a: win/winsqlite3.def | $(WIN_OUT)/.dir
	$(call msg,DLLTOOL,$@)
	$(Q)$(WIN_DLLTOOL) -d $< -D winsqlite3.dll -y $@

WIN_SUPPORT_OBJS := $(call wobj,$(filter-out tests/support/engine_fixture.c,\
	$(wildcard tests/support/*.c)))
$(WIN_OUT)/tests/support/%.o: tests/support/%.c | $(WIN_OUT)/tests/support/.dir
	$(call msg,WINCC,$@)
	$(Q)$(WIN_CC) $(WIN_CFLAGS) -Itests/support -c $< -o $@

$(WIN_OUT)/test_etw.exe: tests/win/test_etw.c tests/unit/unit.h \
		$(call wobj,$(WIN_PORT_SRCS)) $(WIN_SUPPORT_OBJS) $(WIN_LIB_OBJS) \
		$(WIN_STORE_OBJS) $(WIN_OUT)/win/winsqlite.o $(WIN_OUT)/libwinsqlite3.a
	$(call msg,WINLINK,$@)
	$(Q)$(WIN_CC) $(WIN_CFLAGS) -Itests/unit -Itests/support $< \
		$(call wobj,$(WIN_PORT_SRCS)) $(WIN_SUPPORT_OBJS) \
		$(WIN_LIB_OBJS) $(WIN_STORE_OBJS) $(WIN_OUT)/win/winsqlite.o \
		$(WIN_OUT)/libwinsqlite3.a -o $@

$(WIN_OUT)/memwatchw.exe: $(WIN_OUT)/win/memwatchw.o $(WIN_OBJS) $(WIN_LIB_OBJS) \
		$(WIN_STORE_OBJS) $(WIN_OUT)/libwinsqlite3.a
	$(call msg,WINLINK,$@)
	$(Q)$(WIN_CC) $(WIN_CFLAGS) $^ -o $@ -ladvapi32 -ldbghelp -lpsapi

$(WIN_OUT)/memwatchctl.exe: $(WIN_CTL_OBJS) $(call wobj,$(patsubst $(OUT)/%.o,%.c,$(IMPORT_OBJS))) \
		$(WIN_OUT)/win/winsqlite.o \
		$(WIN_LIB_OBJS) $(WIN_STORE_OBJS) $(WIN_OUT)/libwinsqlite3.a
	$(call msg,WINLINK,$@)
	$(Q)$(WIN_CC) $(WIN_CFLAGS) $^ -o $@ -static-libgcc \
		-Wl,-Bstatic -lz -lstdc++ -lwinpthread -Wl,-Bdynamic

# Larger parts keep their rules in mk/*.mk (fuzzing, sanitizers, lint,
# soak), included here so that they see every variable above.
include $(sort $(wildcard mk/*.mk))

# Tests only, never shipped: winsqlite3.dll for wine, which has none. A
# Winelib DLL (tests/win/winsqlite3_shim.c) over Debian's libsqlite3,
# found through WINEDLLPATH, and the placeholder DLL wine's loader wants
# in System32 before it loads a builtin one from there.
WIN_SHIM := $(WIN_OUT)/shim
WINEGCC ?= winegcc
WINEBUILD ?= winebuild
.PHONY: windows-shim
windows-shim: $(WIN_SHIM)/winsqlite3.dll.so $(WIN_SHIM)/fake/winsqlite3.dll

$(WIN_SHIM)/winsqlite3.dll.so: tests/win/winsqlite3_shim.c \
		tests/win/winsqlite3.spec | $(WIN_SHIM)/.dir
	$(call msg,WINEGCC,$@)
	$(Q)$(WINEGCC) -shared -O2 -Wall -o $(WIN_SHIM)/winsqlite3.dll \
		tests/win/winsqlite3.spec $< -lsqlite3

$(WIN_SHIM)/fake/winsqlite3.dll: tests/win/winsqlite3.spec | $(WIN_SHIM)/fake/.dir
	$(call msg,WINEBLD,$@)
	$(Q)$(WINEBUILD) --dll --fake-module -E $< -F winsqlite3.dll -o $@

clean:
	rm -rf $(OUT)

# The objects' dependencies (-MMD), from the folders that mirror the
# sources only: the systemd test keeps a root file system under $(OUT),
# whose directories named *.d (etc/binfmt.d) are no makefiles.
DEP_DIRS := . common engine store daemon ctl win bpf tests tests/support \
	workloads mingw mingw/common mingw/engine mingw/store mingw/ctl \
	mingw/win mingw/tests/support
-include $(wildcard $(foreach d,$(DEP_DIRS),$(OUT)/$(d)/*.d))
