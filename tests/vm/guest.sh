#!/usr/bin/env bash
# tests/vm/guest.sh - what a guest of tests/vm/run.sh runs once it is up:
# tests/vm/guest-init starts it as root in a chroot whose / is the host's
# own (read-only), so this tree, its build and the host's packages are all
# there.
#
#   tests/vm/guest.sh TREE RESULTS
#
# It mounts what the suites need (tracefs, bpffs, cgroup2..., and a tmpfs
# wherever they write: /tmp, /run, the build's test-logs), makes the
# guest kernel's modules reachable for modprobe,
# then runs each suite of RESULTS/env's MW_VM_SUITES (a line each, the
# suite's name and maybe VAR=VALUE settings for it) with tests/run.sh,
# or a script of the tree (a line naming a .sh file, with its arguments:
# tests/bench/kernel.sh for tests/vm/bench.sh), one after the other, appending all output to RESULTS/out.log, which
# tests/vm/run.sh follows on the host. Its own lines start with '#' but
# for a "FAIL: boot: ..." when the guest cannot run the suites. Last come
# RESULTS/dmesg.log (the kernel's log) and RESULTS/done: without it the
# host knows that the guest died before the end.
set -uo pipefail

TREE=$1
RESULTS=$2
LOG=$RESULTS/out.log
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TMPDIR=/tmp

# say LINE: one line to the host.
say() {
	echo "$*" >>"$LOG"
}

# boot_fail REASON: the guest cannot run the suites.
boot_fail() {
	say "FAIL: boot: $*"
	dmesg >"$RESULTS/dmesg.log" 2>&1
	echo 1 >"$RESULTS/done"
	exit 1
}

# shellcheck source=/dev/null  # written by tests/vm/run.sh
source "$RESULTS/env" || boot_fail "cannot read $RESULTS/env"
say "# vm: $(uname -r) up after $(cut -d' ' -f1 /proc/uptime) s, $(nproc) CPU"

# mnt TYPE DIR [OPTIONS]: mount a fresh TYPE file system on DIR.
mnt() {
	mkdir -p "$2" 2>/dev/null
	mount -t "$1" ${3:+-o "$3"} "$1" "$2" 2>>"$RESULTS/mount.err" ||
		boot_fail "mount -t $1 on $2: $(grep -v dmesg "$RESULTS/mount.err" | tail -n 1)"
}
mnt tmpfs /tmp mode=1777
[[ -z ${MW_SAN_LOGS:-} ]] || mkdir -p "$MW_SAN_LOGS"
mnt tmpfs /var/tmp mode=1777
mnt tmpfs /run mode=0755
mnt tmpfs /root mode=0700
# tests/run.sh keeps its logs there (tests/vm/run.sh made it on the host).
mnt tmpfs "$MW_OUT/test-logs" mode=0755
mnt tmpfs /dev/shm mode=1777
mnt devpts /dev/pts
# What udev would make: bash's <(...) opens /dev/fd/N.
for f in fd:/proc/self/fd stdin:/proc/self/fd/0 stdout:/proc/self/fd/1 stderr:/proc/self/fd/2; do
	[[ -e /dev/${f%%:*} ]] || ln -s "${f#*:}" "/dev/${f%%:*}" || boot_fail "cannot link /dev/${f%%:*}"
done
mnt tracefs /sys/kernel/tracing
mnt debugfs /sys/kernel/debug
mnt bpf /sys/fs/bpf
mnt cgroup2 /sys/fs/cgroup
# The guest kernel's modules, unpacked on the host (tests/vm/kernels.sh),
# unless the host has them (its own kernel): a tmpfs over /lib/modules
# with a link to them. A host without /lib/modules (a container) leaves
# no place for them: the suites need no module the kernel lacks built in.
mods=/lib/modules/$(uname -r)
if [[ ! -e $mods && ! -d /lib/modules ]]; then
	say "# vm: no /lib/modules on the host: modprobe finds nothing in the guest"
elif [[ ! -e $mods ]]; then
	mnt tmpfs /lib/modules mode=0755
	ln -s "$MW_VM_KERNEL$mods" "$mods" || boot_fail "cannot link $mods to $MW_VM_KERNEL$mods"
fi
ulimit -l unlimited
# The loopback interface (memwatchd's /metrics, memcached): nothing else
# brings it up in the guest, which has no other (-nic none).
if command -v ip >/dev/null; then
	ip link set lo up
else
	/bin/busybox ip link set lo up 2>/dev/null
fi || boot_fail "cannot bring the loopback interface up"

cd "$TREE" || boot_fail "no $TREE"
while read -r s settings; do
	start=$(date +%s%N)
	# shellcheck disable=SC2086 # settings are words on purpose
	case $s in
	*.sh) bash "$s" $settings ;;
	*) env $settings tests/run.sh "$s" ;;
	esac </dev/null >>"$LOG" 2>&1
	end=$(date +%s%N)
	secs=$(((end - start) / 1000000))
	secs=$((secs / 1000)).$(printf '%03d' $((secs % 1000)) | cut -c1)
	say "# vm: $s took $secs s"
	echo "$s $secs" >>"$RESULTS/times"
done <<<"$MW_VM_SUITES"
dmesg >"$RESULTS/dmesg.log" 2>&1
echo 0 >"$RESULTS/done"
