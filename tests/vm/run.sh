#!/usr/bin/env bash
# tests/vm/run.sh - one kernel suite of tests/run.sh (vm/k6.1, vm/k6.12):
# boots one of Debian's own kernels in a QEMU guest whose / is the host's,
# runs the end-to-end suites listed in tests/vm/suites there on this tree's
# build, and prints their PASS/FAIL lines renamed with the kernel:
# "PASS: k6.1/targets/fork_follow", "FAIL: k6.12/kill9/...: reason".
#
#   tests/vm/run.sh SERIES          (SERIES: 6.1, 6.12, or host: the
#                                    host's own kernel from /boot)
#   tests/vm/run.sh --start SERIES  the same in the background, returning
#                                    at once; its output is kept for
#   tests/vm/run.sh --join SERIES   which prints it, live, as the run
#                                    goes, and exits with its status (a
#                                    plain run if none was started)
# tests/run.sh starts the second guest as the first one boots: two guests
# with one CPU each keep both of the host's cores busy, where one guest
# with two CPUs uses one and a half (QEMU's translator, without KVM).
#
# The kernel and its initramfs come from tests/vm/kernels.sh (fetched once,
# cached in .output/vm/kernels/); the guest's side is tests/vm/guest-init
# then tests/vm/guest.sh. The run's files are in .output/vm/runs/kSERIES/:
# env (what the guest is told), out.log (what it printed, followed live
# here), console.log (the serial console: the kernel's messages),
# dmesg.log, times (seconds per suite), done (written by the guest last).
#
# Whatever stops the guest short is one "FAIL: kSERIES/boot: reason": no
# kernel to be had, no QEMU, a guest that does not boot, dies, or outlives
# MW_VM_TIMEOUT seconds (enforced here, on the host: QEMU is killed). Never
# a skip. kSERIES/kernel_log fails if the guest kernel logged a warning,
# a BUG or an oops while the suites ran.
#
# Environment:
#   MW_VM_SUITES    the suites to run instead of tests/vm/suites' (e2e/X ...)
#   MW_VM_TIMEOUT   seconds the guest may run, boot included (default 900,
#                   as tests/run.sh's)
#   MW_VM_SMP, MW_VM_MEM  the guest's CPUs (2) and MiB (2048)
#   MW_TIME_SCALE   how much longer the suites' waits and timeouts are in
#                   the guest (default 3, tests/e2e/lib.sh: QEMU without
#                   KVM runs programs about 10 times slower, but a wait's
#                   tries slow down with them)
#   MW_CASE_FILTER  tests/run.sh -k: shows the cases whose name, with the
#                   kernel prefix, holds the pattern; with MW_CASE_OPTIONAL=1
#                   none is a skip rather than a FAIL (tests/e2e/lib.sh)
#   MW_OUT          the build the guest runs (.output, tests/run.sh)
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
TREE=$(pwd)
SERIES=${1:-}
NAME=k$SERIES
VM_DIR=${MW_VM_DIR:-.output/vm}
[[ $VM_DIR == /* ]] || VM_DIR=$TREE/$VM_DIR
RUN_DIR=$VM_DIR/runs/$NAME
GUEST_SECS=${MW_VM_TIMEOUT:-900}
PATTERN=${MW_CASE_FILTER:-}
QEMU=${MW_VM_QEMU:-qemu-system-x86_64}

NPASS=0
NFAIL=0
NSHOWN=0
NSHOWN_FAIL=0
QEMU_PID=

# shown NAME: case NAME (with the kernel prefix) passes MW_CASE_FILTER.
shown() {
	# shellcheck disable=SC2053 # the filter is a glob on purpose
	[[ -z $PATTERN || $1 == *$PATTERN* ]]
}

# result LINE: print a PASS/FAIL line of the guest, renamed, if shown.
result() {
	local line=$1 kind=${1%%: *} name
	line="$kind: $NAME/${line#*: }"
	name=${line#*: }
	name=${name%%: *}
	if [[ $kind == PASS ]]; then
		NPASS=$((NPASS + 1))
	else
		NFAIL=$((NFAIL + 1))
	fi
	shown "$name" || return 0
	NSHOWN=$((NSHOWN + 1))
	[[ $kind == PASS ]] || NSHOWN_FAIL=$((NSHOWN_FAIL + 1))
	echo "$line"
}

# boot_fail REASON: the one FAIL line of a guest that could not run the
# suites, shown whatever the filter (the cases after it never ran).
boot_fail() {
	NFAIL=$((NFAIL + 1))
	NSHOWN=$((NSHOWN + 1))
	NSHOWN_FAIL=$((NSHOWN_FAIL + 1))
	echo "FAIL: $NAME/boot: ${1//$'\n'/ | }"
}

# finish: the exit status, as tests/e2e/lib.sh's finish.
finish() {
	if [[ -n $PATTERN ]]; then
		echo "# -k $PATTERN: $((NPASS + NFAIL - NSHOWN)) cases not shown," \
			"$((NFAIL - NSHOWN_FAIL)) of them failed"
		if ((NSHOWN == 0)); then
			if [[ ${MW_CASE_OPTIONAL:-0} == 1 ]]; then
				echo "# skipped: no case matches -k $PATTERN"
				exit 0
			fi
			echo "FAIL: $NAME/-k: no case matches -k $PATTERN"
			exit 1
		fi
	fi
	exit $((NSHOWN_FAIL > 0))
}

# relay: the guest's output, PASS/FAIL lines renamed, the rest as '#' lines.
relay() {
	local line
	while IFS= read -r line; do
		case $line in
		PASS:\ * | FAIL:\ *) result "$line" ;;
		\#*) echo "$line" ;;
		*) echo "# $line" ;;
		esac
	done
}

# console_text: the serial console as plain lines: no carriage return,
# no terminal escape (SeaBIOS clears the screen).
console_text() {
	sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g; s/\r//g' "$RUN_DIR/console.log" 2>/dev/null
	echo
}

# console_reason: why the guest stopped, from its console: guest-init's
# FAILED line, a kernel panic, or the console's last line.
console_reason() {
	local line
	line=$(console_text | grep -a -m1 -E 'guest-init: (FAILED|tests/vm/guest.sh exited)|Kernel panic')
	[[ -n $line ]] || line=$(console_text | grep -a -v '^\s*$' | tail -n 1)
	echo "${line:-the console is empty}" | cut -c1-300
}

# dump_console: the end of the console into the log, as '#' lines.
dump_console() {
	echo "# ==> console.log (last 30 lines) <=="
	console_text | tail -n 30 | sed 's/^/#   /'
}

# suites: the suites the guest runs, one per line, each maybe followed by
# VAR=VALUE settings for it (or a script with its arguments,
# tests/vm/guest.sh): MW_VM_SUITES (names apart by blanks, or lines if
# it has a newline), or tests/vm/suites ('#' starts a comment); with a -k
# naming one suite of this kernel (kSERIES/SUITE...), that suite alone.
suites() {
	local list s want=''
	if [[ ${MW_VM_SUITES:-} == *$'\n'* ]]; then
		list=$MW_VM_SUITES
	elif [[ -n ${MW_VM_SUITES:-} ]]; then
		list=$(tr -s ' \t' '\n' <<<"$MW_VM_SUITES")
	else
		list=$(sed 's/#.*//; s/[[:space:]]*$//; /^$/d' tests/vm/suites)
	fi
	if [[ $PATTERN == "$NAME/"* ]]; then
		want=${PATTERN#"$NAME/"}
		want=${want%%/*}
		# Only a plain name: a glob could match several suites.
		[[ $want == *[*?[]* ]] && want=
	fi
	while read -r s settings; do
		[[ -n $s ]] || continue
		[[ -z $want || ${s#e2e/} == "$want" ]] && echo "$s${settings:+ $settings}"
	done <<<"$list"
}

# kvm_boots: does KVM run this kernel? Some hosts offer /dev/kvm and
# their guests stop at once ("emulation failure", "KVM internal error":
# nested virtualization without the CPU's features), which cost each
# guest its whole MW_VM_TIMEOUT. A probe boots $KERNEL under KVM with no
# root and no init, for 30 s at most: it works if the kernel got as far
# as its panic for want of a root. The verdict is kept for the run's
# other guest ($VM_DIR/kvm.KERNEL), one probe at a time (flock).
kvm_boots() {
	local verdict=$VM_DIR/kvm.$(basename "$KERNEL") log why
	[[ -r /dev/kvm && -w /dev/kvm ]] || return 1
	(
		flock 9
		[[ -s $verdict ]] && exit 0
		log=$(mktemp) || exit 1
		timeout -k 5 30 "$QEMU" -accel kvm -cpu host -smp 1 -m 256 \
			-nographic -no-reboot -nic none -kernel "$KERNEL/vmlinuz" \
			-append "console=ttyS0 panic=-1 root=/dev/mw-none" \
			</dev/null >"$log" 2>&1
		if grep -q 'Kernel panic' "$log"; then
			echo ok >"$verdict"
		else
			why=$(grep -m 1 -oE '(emulation failure|KVM internal error).*' "$log" |
				tr -cd '[:print:]')
			echo "broken: ${why:-no panic within 30 s}" >"$verdict"
		fi
		rm -f "$log"
	) 9>"$VM_DIR/kvm.lock"
	[[ $(cat "$verdict" 2>/dev/null) == ok ]]
}

# accel: KVM where the host offers it and it boots the kernel, else
# QEMU's own translator (TCG). Set once, after the kernel is known.
ACCEL=
accel() {
	echo "$ACCEL"
}

# QEMU_PID is timeout's, which passes the signal on to QEMU.
# shellcheck disable=SC2317 # run by the trap
on_exit() {
	if [[ -n $QEMU_PID ]]; then
		kill -TERM "$QEMU_PID" 2>/dev/null
		wait "$QEMU_PID" 2>/dev/null
	fi
}
trap on_exit EXIT
trap 'exit 143' TERM INT

# start_bg: --start, run this script on SERIES in the background, its
# output and exit status into BG.
start_bg() {
	rm -rf "$BG" && mkdir -p "$BG" || exit 1
	(
		bash tests/vm/run.sh "$SERIES" >"$BG/out" 2>&1
		echo $? >"$BG/status"
	) </dev/null >/dev/null 2>&1 &
	echo $! >"$BG/pid"
	exit 0
}

# join_bg: --join, print the output of the run --start began as it
# comes, exit with its status; stop it if this one is stopped (a timeout).
join_bg() {
	local pid
	pid=$(cat "$BG/pid")
	trap 'kill -TERM "$pid" 2>/dev/null; exit 143' TERM INT
	tail -n +1 -F --pid="$pid" "$BG/out" 2>/dev/null &
	wait $!
	rm -f "$BG/pid"
	if [[ ! -f $BG/status ]]; then
		boot_fail "the run started in the background (tests/vm/run.sh --start) died without a status"
		finish
	fi
	exit "$(cat "$BG/status")"
}

mode=
if [[ $SERIES == --start || $SERIES == --join ]]; then
	mode=$SERIES
	SERIES=${2:-}
	NAME=k$SERIES
	RUN_DIR=$VM_DIR/runs/$NAME
fi
if [[ $SERIES != 6.1 && $SERIES != 6.12 && $SERIES != host ]]; then
	echo "usage: tests/vm/run.sh [--start|--join] 6.1|6.12|host" >&2
	exit 2
fi
BG=$VM_DIR/runs/$NAME.bg
[[ $mode == --start ]] && start_bg
[[ $mode == --join && -f $BG/pid ]] && join_bg
# Every case is named kSERIES/...: a -k naming another kernel
# (k6.12/... here) matches none of them, and the guest need not boot.
first=${PATTERN%%/*}
if [[ $PATTERN == */* && $first == k* && $first != *[*?[]* && $first != "$NAME" ]]; then
	finish
fi
SUITES=$(suites)
if [[ -z $SUITES ]]; then
	boot_fail "no suite to run (tests/vm/suites, MW_VM_SUITES, -k $PATTERN)"
	finish
fi
if ! command -v "$QEMU" >/dev/null; then
	boot_fail "$QEMU is not installed (apt-get install qemu-system-x86; make deps)"
	finish
fi
[[ $TREE != *[[:space:]]* && $VM_DIR != *[[:space:]]* ]] || {
	boot_fail "the tree's path has a blank, which the kernel command line cannot carry: $TREE"
	finish
}

OUT=${MW_OUT:-.output}
[[ $OUT == /* ]] || OUT=$TREE/$OUT
start=$(date +%s)
echo "# vm: $NAME: fetching the kernel (cached in ${VM_DIR#"$TREE"/}/kernels)"
mkdir -p "$VM_DIR" || exit 1
if ! KERNEL=$(MW_VM_DIR=$VM_DIR tests/vm/kernels.sh "$SERIES" 2>"$VM_DIR/kernels-$NAME.err"); then
	boot_fail "no kernel: $(tail -n 1 "$VM_DIR/kernels-$NAME.err" 2>/dev/null)"
	finish
fi
echo "# vm: $NAME: $(cat "$KERNEL/ready") ready after $(($(date +%s) - start)) s"
if kvm_boots; then
	ACCEL="-accel kvm -cpu host"
else
	ACCEL="-accel tcg,thread=multi -cpu ${MW_VM_CPU:-max}"
	[[ -r /dev/kvm ]] &&
		echo "# vm: $NAME: /dev/kvm is here but does not boot the kernel ($(cat "$VM_DIR/kvm.$(basename "$KERNEL")" 2>/dev/null)): QEMU's translator instead"
fi

rm -rf "$RUN_DIR"
# test-logs: the guest mounts a tmpfs there for tests/run.sh's logs.
mkdir -p "$RUN_DIR" "$OUT/test-logs" || exit 1
: >"$RUN_DIR/out.log"
# What the guest is told (tests/vm/guest.sh sources it): the build it
# runs, how much slower it is, and the sanitizers' settings if any, their
# reports in the guest's /tmp (its / is read-only), where the guest's
# tests/run.sh turns each into a FAIL line.
{
	printf 'export MW_OUT=%q MW_TIME_SCALE=%q\n' "$OUT" "${MW_TIME_SCALE:-3}"
	printf 'MW_VM_KERNEL=%q\nMW_VM_SUITES=%q\n' "$KERNEL" "$SUITES"
	if [[ -n ${MW_SAN_LOGS:-} ]]; then
		for v in SANITIZE ASAN_OPTIONS UBSAN_OPTIONS; do
			[[ -n ${!v:-} ]] &&
				printf 'export %s=%q\n' "$v" "${!v//"$MW_SAN_LOGS"//tmp/san-logs}"
		done
		echo 'export MW_SAN_LOGS=/tmp/san-logs'
	fi
} >"$RUN_DIR/env"

echo "# vm: $NAME: booting $(basename "$KERNEL") for $(cut -d' ' -f1 <<<"$SUITES" | tr '\n' ' ')(at most ${GUEST_SECS}s)"
# mitigations=off: the guest is a test box, and under TCG the page-table
# isolation and retpolines of -cpu max cost a fifth of each fork+exec.
# --foreground: timeout stays in this process group, so that QEMU goes
# with it when tests/run.sh's own timeout signals the group.
# shellcheck disable=SC2046 # accel is several words on purpose
timeout --foreground -k 5 "$GUEST_SECS" "$QEMU" $(accel) -smp "${MW_VM_SMP:-2}" -m "${MW_VM_MEM:-2048}" \
	-nographic -no-reboot -nic none \
	-kernel "$KERNEL/vmlinuz" -initrd "$KERNEL/initrd.gz" \
	-append "console=ttyS0 panic=-1 loglevel=4 mitigations=off ${MW_VM_APPEND:-} mw.tree=$TREE mw.results=$RUN_DIR" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
	-virtfs local,path="$RUN_DIR",mount_tag=results,security_model=none \
	</dev/null >"$RUN_DIR/console.log" 2>&1 &
QEMU_PID=$!
relay < <(tail -n +1 -F --pid="$QEMU_PID" "$RUN_DIR/out.log" 2>/dev/null)
wait "$QEMU_PID"
rc=$?
QEMU_PID=
secs=$(($(date +%s) - start))

if [[ $rc == 124 || $rc == 137 ]]; then
	last=$(grep -a '^=== ' "$RUN_DIR/out.log" | tail -n 1)
	boot_fail "guest timed out after ${GUEST_SECS}s${last:+ (running ${last#=== })}, QEMU killed"
	dump_console
elif [[ ! -f $RUN_DIR/done ]]; then
	boot_fail "guest stopped before the end of its suites (QEMU exited $rc): $(console_reason)"
	dump_console
elif [[ -f $RUN_DIR/dmesg.log ]]; then
	# The kernel's own complaints, whichever suite caused them.
	bad=$(grep -a -E 'WARNING:|BUG:|Oops|general protection|Call Trace|RCU stall|blocked for more than' \
		"$RUN_DIR/dmesg.log" | head -n 3)
	if [[ -z $bad ]]; then
		result "PASS: kernel_log"
	else
		result "FAIL: kernel_log: $(echo "$bad" | tr '\n' '|')"
		grep -a -B2 -A20 -m1 -E 'WARNING:|BUG:|Oops|general protection' "$RUN_DIR/dmesg.log" |
			sed 's/^/#   /'
	fi
fi
echo "# vm: $NAME: $secs s in all (QEMU $(accel | cut -d' ' -f2), ${MW_VM_SMP:-2} CPU)"
finish
