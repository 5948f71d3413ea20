#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/meta/structure.sh - the tree is the diagram (docs/ARCHITECTURE.md):
# folders follow the flow, no include or call cycle between files, no
# file over 1,000 lines, only the store includes sqlite3.h, and the
# listing names every file; tests/meta/structure.py says how each is
# checked, on the sources and on the objects of the build tree (MW_OUT).
#
# Then the checker itself: a copy of the tree with one fault planted for
# each check must fail that check and no other.
# shellcheck source=../e2e/lib.sh
source "$(dirname "$0")/../e2e/lib.sh"

CHECK=$ROOT/tests/meta/structure.py
# The tree as it is: each of the checker's lines as this suite's case.
python3 "$CHECK" "$OUT" "$ROOT" >"$TMP/tree.out" || true
while IFS= read -r line; do
	case $line in
	"PASS: structure/"*) pass "${line#PASS: structure/}" ;;
	"FAIL: structure/"*)
		line=${line#FAIL: structure/}
		fail "${line%%: *}" "${line#*: }"
		;;
	esac
done <"$TMP/tree.out"
grep -q '^PASS: structure/listing' "$TMP/tree.out" ||
	grep -q '^FAIL: structure/listing' "$TMP/tree.out" ||
	fail checker "printed no result: $(tail -n 3 "$TMP/tree.out")"

# planted NAME CHECK SETUP: a copy of the sources and objects, SETUP run
# in it, must fail structure/CHECK and pass every other check.
planted() {
	local name=$1 check=$2 setup=$3 copy=$TMP/copy-$1 got
	mkdir -p "$copy"
	(cd "$ROOT" && tar -cf - bpf common engine store daemon ctl win docs/ARCHITECTURE.md) |
		tar -xf - -C "$copy"
	mkdir -p "$copy/out"
	(cd "$OUT" && tar -cf - common engine store daemon ctl win 2>/dev/null) |
		tar -xf - -C "$copy/out"
	(cd "$copy" && eval "$setup") >"$TMP/$name.setup" 2>&1 || {
		fail "catches/$name" "setup failed: $(tail -n 2 "$TMP/$name.setup")"
		return
	}
	python3 "$CHECK" "$copy/out" "$copy" >"$TMP/$name.out" || true
	got=$(grep '^FAIL: ' "$TMP/$name.out" | sed 's/^FAIL: structure\/\([a-z_]*\):.*/\1/' | paste -sd ' ' || true)
	if [[ $got == "$check" ]]; then
		pass "catches/$name"
	else
		fail "catches/$name" "expected a FAIL of $check alone, got: ${got:-none}"
	fi
}

planted layer layers \
	"sed -i '0,/#include \"/s//#include \"store.h\"\n#include \"/' engine/engine_block.c"
planted include_cycle include_cycles \
	"echo '#include \"hash.h\"' >> common/text.h && echo '#include \"text.h\"' >> common/hash.h"
# Two objects that call each other: cc writes them into the copy's out/.
planted call_cycle call_cycles \
	"printf 'void b(void);\nvoid a(void){b();}\n' > out/a.c &&
	 printf 'void a(void);\nvoid b(void){a();}\n' > out/b.c &&
	 cc -c out/a.c -o out/common/hash.o && cc -c out/b.c -o out/common/parse.o"
planted size sizes "seq 1001 | sed 's|.*|/* & */|' >> common/parse.c"
planted sqlite sqlite "echo '#include <sqlite3.h>' >> ctl/json.c"
planted unlisted listing "echo '/* x */' > engine/engine_extra.c"
