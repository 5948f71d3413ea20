#!/usr/bin/env bash
# tests/vm/bench.sh - make bench-kernels: tests/bench/kernel.sh's figures
# (the empty-probe floor and full mode per malloc+free pair, TLS mode and
# full mode over untraced, attach and detach of a glibc process) on each
# guest kernel of tests/vm/run.sh, as one table with a column per kernel.
#
#   tests/vm/bench.sh [KERNEL...]      (6.1 6.12 by default)
#
# The guests run one after the other with two CPUs each: memwatchd's
# reader and the traced workload each get one, as on a host. Only the
# ratios and the figures of one column compare: QEMU without KVM runs
# everything about 10 times slower than the host, and differently so
# (a probe's trap costs more than an instruction). MW_BENCH_ARGS are
# tests/bench/kernel.sh's PAIRS and REPS ("50000 3": a tenth of the
# host's pairs). Exit status 1 if a kernel gave no figures; its FAIL
# lines (tests/vm/run.sh) say why.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
KERNELS=("$@")
((${#KERNELS[@]})) || KERNELS=(6.1 6.12)
ARGS=${MW_BENCH_ARGS:-50000 3}
TMP=$(mktemp -d) || exit 1
trap 'rm -rf "$TMP"' EXIT

status=0
for k in "${KERNELS[@]}"; do
	echo "=== bench k$k"
	# One entry, a script with its arguments (tests/vm/guest.sh).
	MW_VM_SMP=2 MW_VM_SUITES="tests/bench/kernel.sh $ARGS"$'\n' \
		bash tests/vm/run.sh "$k" | tee "$TMP/$k.out"
	sed -n 's/^# bench-kernel: //p' "$TMP/$k.out" >"$TMP/$k.fig"
	if ! grep -q '^full_us ' "$TMP/$k.fig"; then
		echo "bench-kernels: k$k gave no figures"
		status=1
	fi
done

# The table: the figures in tests/bench/kernel.sh's order, a column each.
echo
{
	printf 'figure'
	for k in "${KERNELS[@]}"; do printf '\tk%s' "$k"; done
	echo
	cut -d' ' -f1 "$TMP/${KERNELS[0]}.fig" | grep -v '^release$' | while read -r f; do
		printf '%s' "$f"
		for k in "${KERNELS[@]}"; do
			printf '\t%s' "$(awk -v f="$f" '$1 == f { $1 = ""; sub(/^ /, ""); print; exit }' "$TMP/$k.fig")"
		done
		echo
	done
} | awk -F'\t' '{ for (i = 1; i <= NF; i++) printf "%-20s", $i; print "" }'
exit $status
