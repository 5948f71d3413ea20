#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/meta/lint.sh - `make lint` (mk/lint.mk) passes: cppcheck and
# clang-tidy (.clang-tidy) report nothing in common/, engine/, store/, daemon/, ctl/ and the
# portable win/ files. And the other way round, so that a pass means
# something: the same two rules, given a file with a planted bug, fail
# and name it.
# shellcheck source=../e2e/lib.sh
source "$(dirname "$0")/../e2e/lib.sh"

for tool in cppcheck clang-tidy; do
	if ! command -v "$tool" >/dev/null; then
		fail setup "$tool is not installed (make deps installs it)"
		exit 1
	fi
done

# lint NAME TARGET [MAKE-ARGS...]: make TARGET in the tree, its output in
# $TMP/NAME.out; the make's exit status.
lint() {
	local name=$1
	shift
	make -s -C "$ROOT" "$@" >"$TMP/$name.out" 2>&1
}

# lint_errors NAME: the lines of $TMP/NAME.out that say what is wrong
# (its last lines if none does), for a FAIL line.
lint_errors() {
	local lines
	lines=$(grep -E '(error|warning|portability|performance|style):' \
		"$TMP/$1.out" | head -n 5 || true)
	if [[ -n $lines ]]; then
		echo "$lines"
	else
		tail -n 5 "$TMP/$1.out"
	fi
}

for t in cppcheck clang-tidy; do
	if lint "$t" "lint-$t"; then
		pass "$t"
	else
		fail "$t" "make lint-$t: $(lint_errors "$t")"
	fi
done

# Planted bugs, one each tool must see: a write past an array for
# cppcheck, a use after free for clang-tidy's analyzer.
cat >"$TMP/planted_cppcheck.c" <<'EOF'
/* A write one past the end of buf. */
int planted(void);
int planted(void)
{
	char buf[4];

	buf[4] = 1;
	return buf[0];
}
EOF
cat >"$TMP/planted_tidy.c" <<'EOF'
/* A read of freed memory. */
#include <stdlib.h>

int planted(void);
int planted(void)
{
	int *p = malloc(sizeof(*p));

	if (!p)
		return 0;
	*p = 1;
	free(p);
	return *p;
}
EOF
planted() {
	local name=$1 target=$2 file=$3
	if lint "$name" "$target" LINT_SRCS="$file"; then
		fail "$name" "make $target passed a file with a planted bug"
	elif ! grep -q "planted_" "$TMP/$name.out"; then
		fail "$name" "make $target failed without naming the file: $(tail -n 3 "$TMP/$name.out")"
	else
		pass "$name"
	fi
}
planted cppcheck_catches lint-cppcheck "$TMP/planted_cppcheck.c"
planted clang_tidy_catches lint-clang-tidy "$TMP/planted_tidy.c"

finish
