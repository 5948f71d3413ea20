# mk/fuzz.mk - libFuzzer harnesses (tests/fuzz/fuzz_*.c) for what reads
# bad input: the collector's decoding of BPF records, the engine fed
# arbitrary event sequences, the configuration file, the control socket,
# memwatchctl's filters and ETW trace files (win/etl_file.c). docs/RELIABILITY.md says what each checks.
#
#   make fuzz                    run each harness FUZZ_SECONDS (300) on a
#                                copy of its seed corpus; fails on a crash,
#                                naming the reproducer
#   make fuzz FUZZ=engine        one harness (a list works too)
#
# The harnesses are built with `make tests`, so that tests/meta/fuzz.sh (the
# short pass make check runs) finds them. Everything they link is compiled
# again here with clang's fuzzer, ASan and UBSan instrumentation, in
# $(OUT)/fuzz/obj; the seed corpus in tests/fuzz/corpus is only ever read.

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 300
FUZZ_NAMES := decode engine config control filter etl
FUZZ ?= $(FUZZ_NAMES)
FUZZ_OUT := $(OUT)/fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -g -O1 -fno-omit-frame-pointer $(FUZZ_SAN) $(WARN) \
	-std=gnu11 -D_GNU_SOURCE -MMD -MP $(INC_tests)
FUZZ_BINS := $(patsubst %,$(FUZZ_OUT)/fuzz_%,$(FUZZ_NAMES))

# What each harness links besides itself (objects under $(FUZZ_OUT)/obj).
FUZZ_LIB := $(patsubst %.c,$(FUZZ_OUT)/obj/%.o,$(COMMON_SRCS) \
	$(filter-out engine/engine_check.c,$(ENGINE_SRCS)))
FUZZ_OBJS_decode := $(FUZZ_OUT)/obj/daemon/decode.o
FUZZ_OBJS_engine := $(FUZZ_LIB) $(FUZZ_OUT)/obj/engine/engine_check.o \
	$(FUZZ_OUT)/obj/tests/support/recsink.o
# The settings alone: options.c reads the plain values of config.h and no
# part of the daemon, checks addresses with listen.c, and logs with log.c,
# which takes sd-daemon.h's SD_* prefixes only (no libsystemd to link);
# options_usage.c is its --help text.
FUZZ_OBJS_config := $(patsubst %,$(FUZZ_OUT)/obj/%.o,daemon/options \
	daemon/options_usage daemon/listen daemon/log common/parse common/text common/names \
	engine/suppress)
FUZZ_OBJS_control := $(FUZZ_OUT)/obj/daemon/control.o \
	$(FUZZ_OUT)/obj/common/frame.o \
	$(FUZZ_OUT)/obj/daemon/access.o
FUZZ_OBJS_filter := $(FUZZ_OUT)/obj/ctl/filter.o $(FUZZ_LIB)
# The .etl reader alone, with its LZ77; the harness includes win/.
FUZZ_OBJS_etl := $(FUZZ_OUT)/obj/win/etl_file.o $(FUZZ_OUT)/obj/win/xca.o
$(FUZZ_OUT)/obj/tests/fuzz_etl.o: FUZZ_CFLAGS += -Iwin

.PHONY: fuzz
tests: $(FUZZ_BINS)

fuzz: $(patsubst %,$(FUZZ_OUT)/fuzz_%,$(FUZZ))
	tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ)

# Objects mirror the source tree; the daemon's sources include no BPF
# skeleton but through collector.h's neighbours, so it is made first all
# the same, as for the daemon.
$(FUZZ_OUT)/obj/%.o: %.c $(OUT)/bpf/memwatch.skel.h | $(FUZZ_OUT)/obj/.dir
	$(call msg,FUZZCC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_OUT)/obj/tests/%.o: tests/fuzz/%.c | $(FUZZ_OUT)/obj/.dir
	$(call msg,FUZZCC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

# One link rule per harness: $(1) its name.
define fuzz_link
$(FUZZ_OUT)/fuzz_$(1): $(FUZZ_OUT)/obj/tests/fuzz_$(1).o $(FUZZ_OBJS_$(1))
	$$(call msg,FUZZLD,$$@)
	$$(Q)$$(FUZZ_CC) $$(FUZZ_SAN) -fsanitize=fuzzer $$^ -o $$@ $(FUZZ_LIBS_$(1))
endef
$(foreach n,$(FUZZ_NAMES),$(eval $(call fuzz_link,$(n))))

# The invariant checker the engine harness relies on, tested on states
# broken by hand (tests/unit/test_engine_check.c).
$(OUT)/tests/test_engine_check: UNIT_EXTRA := $(OUT)/engine/engine_check.o
$(OUT)/tests/test_engine_check: $(OUT)/engine/engine_check.o

-include $(wildcard $(FUZZ_OUT)/obj/*/*.d $(FUZZ_OUT)/obj/*/*/*.d)
