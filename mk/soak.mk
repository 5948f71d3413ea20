# mk/soak.mk - make soak: the long versions of the fault suites that make
# check runs short (docs/RELIABILITY.md, "Faults"), as root like them.
#
#   make soak                          every soak below
#   make soak SOAK_CYCLES=500          kill -9 cycles (tests/e2e/kill9.sh)
#   make soak SOAK_ATTACH_CYCLES=5000  attach/detach cycles and
#             SOAK_ATTACH_KILLS=20     churn runs with the daemon killed
#                                      while attached (attach_cycles.sh)
#
# Each suite prints its figures on a "# ..." line (cycles survived, cycles
# per second); the logs go to $(OUT)/soak-logs. About 7 s per kill cycle
# and 0.22 s per attach/detach cycle on a 2-core machine: the defaults
# take about 35 and 15 minutes. The suites run the binaries in
# $(OUT): do not rebuild them meanwhile.

SOAK_CYCLES ?= 300
SOAK_ATTACH_CYCLES ?= 3000
SOAK_ATTACH_KILLS ?= 20
SOAK_LOGS := $(OUT)/soak-logs

.PHONY: soak soak-build soak-kill9 soak-attach
soak: soak-kill9 soak-attach

soak-build: deps
	$(MAKE) all tests
	mkdir -p $(SOAK_LOGS)

soak-kill9: soak-build
	MW_KILL9_CYCLES=$(SOAK_CYCLES) MW_KILL9_SECONDS=86400 \
	bash -o pipefail -c \
		'tests/e2e/kill9.sh 2>&1 | tee $(SOAK_LOGS)/kill9.log'

soak-attach: soak-build
	MW_ATTACH_CYCLES=$(SOAK_ATTACH_CYCLES) \
	MW_ATTACH_KILLS=$(SOAK_ATTACH_KILLS) MW_ATTACH_SECONDS=86400 \
	bash -o pipefail -c \
		'tests/e2e/attach_cycles.sh 2>&1 | tee $(SOAK_LOGS)/attach_cycles.log'
