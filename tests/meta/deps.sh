#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/meta/deps.sh - `make demo` installs what the demo needs and no
# more, `make check` everything (Makefile: DEMO_PKGS, DEPS_PKGS):
#   - the demo's set is a strict subset of the check's set;
#   - it leaves out the tests' heavy tools (wine, mingw, Prometheus, Go,
#     rpm, QEMU, the reference programs...);
#   - every library the demo's build links (`make -n -B all demo_leaky`,
#     what `make demo` builds) comes from a package in the demo's set or
#     one they depend on (apt-cache depends, this host's package lists),
#     and every tool it runs (clang, bpftool) too, so the smaller set
#     still builds the demo;
#   - `make demo` builds that much only: no other workload or test.
# shellcheck source=../e2e/lib.sh
source "$(dirname "$0")/../e2e/lib.sh"

make -s -C "$ROOT" print-deps >"$TMP/sets.txt"
read -ra demo <<<"$(sed -n 's/^demo: //p' "$TMP/sets.txt")"
read -ra check <<<"$(sed -n 's/^check: //p' "$TMP/sets.txt")"
if ((${#demo[@]} == 0 || ${#check[@]} == 0)); then
	fail sets "make print-deps gave no sets: $(cat "$TMP/sets.txt")"
	finish
fi

# --- strict subset ------------------------------------------------------------------
missing=()
for p in "${demo[@]}"; do
	printf '%s\n' "${check[@]}" | grep -qxF -- "$p" || missing+=("$p")
done
if ((${#missing[@]} == 0 && ${#check[@]} > ${#demo[@]})); then
	pass subset
else
	fail subset "demo set not a strict subset of the check set (${#demo[@]} vs ${#check[@]} packages; not in check: ${missing[*]:-none})"
fi

# --- what the demo must not install --------------------------------------------------
heavy=(wine64 wine64-tools gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64
	libz-mingw-w64-dev prometheus golang-go rpm lintian debhelper
	qemu-system-x86 postgresql openjdk-17-jdk-headless nodejs bpftrace
	heaptrack valgrind debootstrap systemd-container redis-server
	libclang-rt-14-dev cppcheck clang-tidy)
found=()
for p in "${heavy[@]}"; do
	printf '%s\n' "${check[@]}" | grep -qxF -- "$p" ||
		fail "excluded/$p" "not in the check set either: this list is out of date"
	printf '%s\n' "${demo[@]}" | grep -qxF -- "$p" && found+=("$p")
done
if ((${#found[@]} == 0)); then
	pass excluded
else
	fail excluded "the demo installs ${found[*]}"
fi

# --- the demo's build needs nothing else ------------------------------------------------
# What `make demo` makes, as commands (-B: as if nothing were built).
# The target as the Makefile names it: relative to the tree (an absolute
# one has no rule, and make -n says nothing of it).
make -s -C "$ROOT" -n -B V=1 all "${OUT#"$ROOT"/}/workloads/demo_leaky" >"$TMP/build.txt" 2>&1 || true
# The packages the demo's set brings, its dependencies included.
apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
	--no-breaks --no-replaces --no-enhances "${demo[@]}" 2>/dev/null |
	sed -n 's/^\([a-z0-9][^ :]*\).*/\1/p; s/^ *\(Pre\)\{0,1\}Depends: \([^<> ]*\).*/\2/p' |
	sort -u >"$TMP/closure.txt"
printf '%s\n' "${demo[@]}" >>"$TMP/closure.txt"
# owner FILE: the package holding FILE (dpkg -S), FILE as the linker
# names it ("/usr/lib/gcc/.../../../x86_64-linux-gnu/libz.so") made
# plain, then with its links resolved (a usrmerge'd /lib is /usr/lib to
# dpkg); empty if no package has it.
owner() {
	local f
	for f in "$(realpath -s "$1")" "$(readlink -f "$1")"; do
		dpkg -S "$f" 2>/dev/null | awk -F: 'NR == 1 { print $1 }' && return 0
	done
	return 0
}
libs=$(grep -o -- ' -l[A-Za-z0-9_+]*' "$TMP/build.txt" | sed 's/ -l//' | sort -u)
bad=()
for l in $libs; do
	so=$(cc -print-file-name="lib$l.so")
	[[ $so == /* ]] || so=$(cc -print-file-name="lib$l.a")
	pkg=$(owner "$so")
	if [[ -z $pkg ]]; then
		bad+=("-l$l (no package has $so)")
	elif ! grep -qxF -- "$pkg" "$TMP/closure.txt"; then
		bad+=("-l$l ($pkg)")
	fi
done
if [[ -n $libs && ${#bad[@]} == 0 ]]; then
	pass demo_libs
else
	fail demo_libs "libraries the demo links from outside the demo set: ${bad[*]:-no -l found in $(head -c 200 "$TMP/build.txt")}"
fi
bad=()
for t in clang bpftool; do
	grep -q "^$t \|[ /]$t " "$TMP/build.txt" || continue
	pkg=$(owner "$(command -v "$t")")
	grep -qxF -- "$pkg" "$TMP/closure.txt" || bad+=("$t ($pkg)")
done
if ((${#bad[@]} == 0)); then
	pass demo_tools
else
	fail demo_tools "tools the demo runs from outside the demo set: ${bad[*]}"
fi

# No other workload, no unit test, no fuzzer, no Windows program.
others=$(grep -oE '\.output/(workloads/[A-Za-z0-9_.]+|tests/[A-Za-z0-9_]+|mingw/|fuzz)' \
	"$TMP/build.txt" | grep -v -e '^\.output/workloads/demo_leaky$' -e '/\.dir$' |
	sort -u | head -n 5 || true)
if grep -q 'workloads/demo_leaky' "$TMP/build.txt" && [[ -z $others ]]; then
	pass demo_builds_little
else
	fail demo_builds_little "make demo's build: demo_leaky missing or more built: ${others:-no demo_leaky}"
fi

finish
