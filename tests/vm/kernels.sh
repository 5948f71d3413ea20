#!/usr/bin/env bash
# tests/vm/kernels.sh - fetch, unpack and cache one of Debian's kernels for
# the guests of tests/vm/run.sh, with the initramfs that boots it.
#
#   tests/vm/kernels.sh SERIES      (SERIES: 6.1, 6.12 or host)
#
# Prints one line, the kernel's directory, once it is ready:
#   $MW_VM_DIR/kernels/VERSION/
#     vmlinuz                 the kernel image
#     lib/modules/VERSION/    its modules, with depmod's modules.dep
#     initrd.gz               busybox and the modules that mount the
#                             host's root over virtio-9p (tests/vm/guest-init)
#     ready                   written last: a kernel without it is redone
# MW_VM_DIR is .output/vm by default. On failure prints one line naming
# the problem on stderr, exit status 1.
#
# The package is the newest generic (not cloud: the cloud kernel has no 9p)
# unsigned image of the series that apt knows, downloaded with apt-get
# download: linux-image-6.1.0-N-amd64-unsigned,
# linux-image-6.12.N+deb12-amd64-unsigned. A kernel already cached is
# used as it is (the apt lookup is local and takes a second); when apt
# knows a newer one, that one is fetched and the older ones of the series
# removed. With no apt lists at all (a fresh container) apt-get update
# runs once; if apt still knows none, the newest one cached is used.
#
# SERIES host is the kernel this machine runs, if its image is in /boot:
# $MW_VM_DIR/kernels/host-VERSION links to /boot/vmlinuz-VERSION and
# /lib/modules/VERSION, and has its own initramfs.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
VM_DIR=${MW_VM_DIR:-.output/vm}
KDIR=$VM_DIR/kernels
# The modules the initramfs loads, with their dependencies (modules.dep):
# the PCI transport and 9p over virtio.
INITRD_MODS=(virtio_pci 9pnet_virtio 9p)
BUSYBOX=${MW_VM_BUSYBOX:-/bin/busybox}

die() {
	echo "tests/vm/kernels.sh: $*" >&2
	exit 1
}

# package_pattern SERIES: the regular expression of the series' packages.
package_pattern() {
	case $1 in
	6.1) echo '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' ;;
	6.12) echo '^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$' ;;
	*) return 1 ;;
	esac
}

# newest_package SERIES: the newest package of the series apt knows, or
# nothing.
newest_package() {
	local re
	re=$(package_pattern "$1") || return 1
	apt-cache search --names-only "$re" 2>/dev/null | cut -d' ' -f1 |
		grep -E "$re" | sort -V | tail -n 1
}

# version_of PACKAGE: the kernel release it installs (uname -r).
version_of() {
	local v=${1#linux-image-}
	echo "${v%-unsigned}"
}

# newest_cached SERIES: the newest ready kernel of the series in the cache.
newest_cached() {
	local d v out=
	for d in "$KDIR"/*/; do
		[[ -f $d/ready ]] || continue
		v=$(basename "$d")
		case $1 in
		6.1) [[ $v == 6.1.0-*-amd64 ]] ;;
		6.12) [[ $v == 6.12.*+deb12-amd64 ]] ;;
		esac || continue
		out+="$v"$'\n'
	done
	printf '%s' "$out" | sort -V | tail -n 1
}

# module_order DIR VERSION MODULE...: the modules' paths relative to
# DIR/lib/modules/VERSION, each after the ones it depends on.
module_order() {
	local base=$1/lib/modules/$2 mod path
	shift 2
	declare -A seen=()
	# add PATH: PATH's dependencies, then PATH, each once.
	add() {
		local p=$1 line d
		[[ -z ${seen[$p]:-} ]] || return 0
		seen[$p]=1
		line=$(grep -E "^${p//+/\\+}:" "$base/modules.dep") || true
		for d in ${line#*:}; do
			add "$d"
		done
		echo "$p"
	}
	for mod in "$@"; do
		path=$(grep -oE "^[^:]*/$mod\.ko(\.xz|\.zst|\.gz)?:" "$base/modules.dep" | tr -d :)
		if [[ -n $path ]]; then
			add "$path"
		# Built into the kernel (6.12's virtio_pci): nothing to load.
		elif ! grep -qE "/$mod\.ko\$" "$base/modules.builtin"; then
			echo "tests/vm/kernels.sh: $2: no module $mod, loadable or built in" >&2
			return 1
		fi
	done
}

# make_initrd DIR VERSION: DIR/initrd.gz, busybox and tests/vm/guest-init
# as /init, the modules uncompressed (busybox's insmod reads no xz) in
# /lib/mods, and /modules.order listing them in load order.
make_initrd() {
	local dir=$1 ver=$2 root m name ko order
	root=$(mktemp -d "$dir/initrd.XXXXXX") || return 1
	mkdir -p "$root"/{bin,dev,proc,sys,lib/mods,newroot}
	if ! { cp "$BUSYBOX" "$root/bin/busybox" && cp tests/vm/guest-init "$root/init" &&
		chmod 755 "$root/init"; }; then
		rm -rf "$root"
		return 1
	fi
	order=$(module_order "$dir" "$ver" "${INITRD_MODS[@]}") || {
		rm -rf "$root"
		return 1
	}
	for m in $order; do
		name=$(basename "$m")
		ko=${name%.ko*}.ko
		case $name in
		*.xz) xz -dc "$dir/lib/modules/$ver/$m" ;;
		*.zst) zstd -qdc "$dir/lib/modules/$ver/$m" ;;
		*.gz) gzip -dc "$dir/lib/modules/$ver/$m" ;;
		*) cat "$dir/lib/modules/$ver/$m" ;;
		esac >"$root/lib/mods/$ko" || {
			rm -rf "$root"
			return 1
		}
		echo "$ko" >>"$root/modules.order"
	done
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$dir/initrd.gz.tmp" &&
		mv "$dir/initrd.gz.tmp" "$dir/initrd.gz"
	local rc=$?
	rm -rf "$root"
	return $rc
}

# fetch PACKAGE: download, unpack, depmod, initramfs; prints the directory.
fetch() {
	local pkg=$1 ver dir tmp deb
	ver=$(version_of "$pkg")
	dir=$KDIR/$ver
	tmp=$(mktemp -d "$KDIR/.fetch.XXXXXX") || return 1
	# apt-get download writes into the current directory; as root it
	# warns that its _apt user cannot write there, which is harmless.
	if ! (cd "$tmp" && apt-get download -q "$pkg" >download.log 2>&1); then
		echo "tests/vm/kernels.sh: apt-get download $pkg failed: $(tail -n 1 "$tmp/download.log")" >&2
		rm -rf "$tmp"
		return 1
	fi
	deb=$(echo "$tmp"/*.deb)
	rm -rf "$dir"
	mkdir -p "$dir"
	# Only the image and the modules: the rest is documentation.
	if ! dpkg-deb --fsys-tarfile "$deb" |
		tar -x -C "$dir" "./boot/vmlinuz-$ver" "./lib/modules/$ver" 2>"$tmp/tar.err"; then
		echo "tests/vm/kernels.sh: unpacking $deb failed: $(head -n 1 "$tmp/tar.err")" >&2
		rm -rf "$tmp" "$dir"
		return 1
	fi
	rm -rf "$tmp"
	mv "$dir/boot/vmlinuz-$ver" "$dir/vmlinuz" && rmdir "$dir/boot" || return 1
	depmod -b "$dir" "$ver" || {
		echo "tests/vm/kernels.sh: depmod -b $dir $ver failed" >&2
		return 1
	}
	make_initrd "$dir" "$ver" || return 1
	echo "$pkg" >"$dir/ready"
}

# host_kernel: the directory of the host's own kernel, made once.
host_kernel() {
	local ver dir
	ver=$(uname -r)
	dir=$KDIR/host-$ver
	[[ -f /boot/vmlinuz-$ver ]] || die "no /boot/vmlinuz-$ver: the host's kernel image is not on disk"
	[[ -f /lib/modules/$ver/modules.dep ]] || die "no /lib/modules/$ver/modules.dep"
	if [[ ! -f $dir/ready || tests/vm/guest-init -nt $dir/initrd.gz ]]; then
		mkdir -p "$dir/lib/modules" &&
			ln -sfn "/boot/vmlinuz-$ver" "$dir/vmlinuz" &&
			ln -sfn "/lib/modules/$ver" "$dir/lib/modules/$ver" &&
			make_initrd "$dir" "$ver" || exit 1
		echo "the host's kernel $ver" >"$dir/ready"
	fi
	echo "$dir"
}

# series_of VERSION: 6.1 or 6.12 (or nothing) for a kernel release.
series_of() {
	case $1 in
	6.1.0-*-amd64) echo 6.1 ;;
	6.12.*+deb12-amd64) echo 6.12 ;;
	esac
}

main() {
	local series=${1:-} pkg ver old
	if [[ $# != 1 ]] || { [[ $series != host ]] && ! package_pattern "$series" >/dev/null; }; then
		die "usage: tests/vm/kernels.sh 6.1|6.12|host"
	fi
	mkdir -p "$KDIR" || die "cannot create $KDIR"
	# Static: the initramfs has no libc. A dynamic one has an INTERP header.
	if [[ ! -x $BUSYBOX ]] || readelf -l "$BUSYBOX" 2>/dev/null | grep -q INTERP; then
		die "$BUSYBOX is not a static busybox (apt-get install busybox-static)"
	fi
	if [[ $series == host ]]; then
		host_kernel
		return
	fi
	pkg=$(newest_package "$series")
	if [[ -z $pkg ]] && ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
		apt-get update -qq >/dev/null 2>&1
		pkg=$(newest_package "$series")
	fi
	if [[ -z $pkg ]]; then
		ver=$(newest_cached "$series")
		[[ -n $ver ]] || die "apt knows no linux-image-$series *-amd64-unsigned package and none is cached in $KDIR"
	else
		ver=$(version_of "$pkg")
		if [[ ! -f $KDIR/$ver/ready ]]; then
			fetch "$pkg" || exit 1
			# The older kernels of the series are not needed any more.
			for old in "$KDIR"/*/; do
				old=$(basename "$old")
				[[ $old != "$ver" && $(series_of "$old") == "$series" ]] &&
					rm -rf "${KDIR:?}/$old"
			done
		fi
	fi
	# The initramfs is rebuilt when guest-init changed since.
	if [[ tests/vm/guest-init -nt $KDIR/$ver/initrd.gz ]]; then
		make_initrd "$KDIR/$ver" "$ver" || exit 1
	fi
	echo "$KDIR/$ver"
}

main "$@"
