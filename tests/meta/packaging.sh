#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016  # jq filters use $vars
# tests/meta/packaging.sh - the Debian and RPM packages, for real: `make deb`
# (rebuilt only if a source changed since the last one), the .deb's files,
# conffile, version and library dependencies, lintian's verdict; then it
# is installed with dpkg on this host, twice (as an upgrade would), and
# the installed programs are run: --version,
# --check-config on the installed configuration, the group the postinst
# made, the manual pages man finds, the unit systemd-analyze verifies and
# debhelper enabled, the bash completion, and memwatchd tracing a leaking
# workload into its default database with memwatchctl reading the
# findings. `dpkg --purge` must then leave nothing behind (no file, no
# /etc/memwatch, no /var/lib/memwatch, no unit enablement) but the group,
# which Debian keeps; the postinst's addgroup, where systemd-sysusers is
# missing, makes the same group as the sysusers.d file does. The
# changelog is a real one: the newest entry is this version's, each
# entry says what changed, lintian has nothing to say about it.
# Last, `make rpm` and the rpm's files, config file, scriptlets and
# dependencies (rpm -qp). In both packages, every document the packaged
# manual pages name (/usr/share/doc/memwatch/NAME) is in the package,
# and no page names a path of the source tree (docs/NAME.md) instead.
#
# The host is left as it was, even if the suite fails half-way: the exit
# trap purges the package. A memwatch package already installed stops the
# suite (it would be replaced); a group "memwatch", /etc/memwatch or
# /var/lib/memwatch already there (a developer's memwatchd run with its
# defaults makes the last) are moved aside and put back at exit, so that
# the package's own making and removing of them is what is tested.
# About 30 s with both packages to build (each compiles the programs once,
# from scratch), well within tests/run.sh's 300 s a suite.
# shellcheck source=../e2e/lib.sh
source "$(dirname "$0")/../e2e/lib.sh"

VERSION=$("$MEMWATCHD" --version | awk '{ print $2 }')
DEB=$OUT/deb/memwatch_${VERSION}_$(dpkg --print-architecture).deb
RPM=$OUT/rpm/memwatch-$VERSION-1.$(uname -m).rpm
VARLIB=/var/lib/memwatch
ETC=/etc/memwatch
SAVED=.packaging-saved
WANTS=/etc/systemd/system/multi-user.target.wants/memwatchd.service

# What the package installs, as dpkg-deb -c names it (with a leading .):
# the programs, unit, configuration, manual pages, completion, and every
# file of dashboards/.
FILES=(/usr/sbin/memwatchd /usr/bin/memwatchctl
	/lib/systemd/system/memwatchd.service /etc/memwatch/memwatchd.conf
	/usr/share/man/man8/memwatchd.8.gz /usr/share/man/man1/memwatchctl.1.gz
	/usr/share/man/man5/memwatchd.conf.5.gz
	/usr/share/bash-completion/completions/memwatchctl
	/usr/share/doc/memwatch/examples/memwatchd-remote-scrape.conf
	/usr/lib/sysusers.d/memwatch.conf)
while IFS= read -r f; do
	FILES+=("/usr/share/memwatch/$f")
done < <(cd "$ROOT" && find dashboards -type f | sort)

INSTALLED=0
SAVED_GROUP=

# --- leaving the host as it was --------------------------------------------------

# pkg_status: dpkg's state of memwatch ("installed", "config-files"...),
# empty if dpkg knows no such package.
pkg_status() {
	dpkg-query -W -f='${db:Status-Status}' memwatch 2>/dev/null || true
}

# put_back: undo what this suite did to the host, whatever it got to:
# purge the package if it installed it, remove what the package or its
# daemon left, and restore what was moved aside.
put_back() {
	local d gid members
	if ((INSTALLED)); then
		if [[ -n $(pkg_status) && $(pkg_status) != not-installed ]] &&
			! dpkg --purge memwatch >"$TMP/cleanup-purge.out" 2>&1; then
			echo "# cleanup: dpkg --purge memwatch failed: $(tail -n 1 "$TMP/cleanup-purge.out")"
		fi
		# Before the install neither existed (moved aside): anything
		# here now is the package's or its daemon's.
		rm -rf "$VARLIB" "$ETC"
		if [[ -L $WANTS ]]; then
			rm -f "$WANTS"
		fi
		if getent group memwatch >/dev/null; then
			groupdel memwatch
		fi
	fi
	for d in "$VARLIB" "$ETC"; do
		if [[ -e $d$SAVED && ! -e $d ]]; then
			mv "$d$SAVED" "$d"
		fi
	done
	if [[ -n $SAVED_GROUP ]] && ! getent group memwatch >/dev/null; then
		IFS=: read -r _ _ gid members <<<"$SAVED_GROUP"
		groupadd -g "$gid" memwatch
		if [[ -n $members ]]; then
			gpasswd -M "$members" memwatch >/dev/null
		fi
	fi
	return 0
}

# The exit trap: put the host back, then lib.sh's own exit handling with
# the suite's exit status (and without this function in the ERR trap's
# record of where the suite stopped).
# shellcheck disable=SC2317  # run by the exit trap
packaging_exit() {
	local rc=$?
	trap - ERR
	set +e
	put_back
	(exit "$rc")
	on_exit
}
trap packaging_exit EXIT

# snapshot: every path with "memwatch" in it where a package or its
# maintainer scripts put files (dpkg's and debhelper's records
# included), to compare before and after.
snapshot() {
	find /etc /lib/systemd /usr/lib/systemd /usr/sbin /usr/bin /usr/share \
		/var/lib -path '*memwatch*' ! -path "*$SAVED*" 2>/dev/null | sort
}

case $(pkg_status) in
'' | not-installed) ;;
*)
	fail setup "a memwatch package is on this host ($(pkg_status)): this suite would replace it; remove it first"
	exit 1
	;;
esac
if [[ -n $(find /proc/[0-9]*/fd -lname "$VARLIB/*" 2>/dev/null | head -n 1) ]]; then
	fail setup "a process has files in $VARLIB open (a memwatchd with the default database?): stop it first"
	exit 1
fi
for d in "$VARLIB" "$ETC"; do
	if [[ -e $d$SAVED ]]; then
		fail setup "$d$SAVED is there: left by an earlier run of this suite? Put it back by hand"
		exit 1
	fi
	if [[ -e $d ]]; then
		mv "$d" "$d$SAVED"
		echo "# moved $d aside to $d$SAVED until the end"
	fi
done
if SAVED_GROUP=$(getent group memwatch); then
	if ! groupdel memwatch 2>"$TMP/groupdel.err"; then
		SAVED_GROUP=
		fail setup "group memwatch exists and cannot be removed for the test: $(cat "$TMP/groupdel.err")"
		exit 1
	fi
	echo "# removed group memwatch ($SAVED_GROUP) until the end"
fi
snapshot >"$TMP/before.txt"

# --- (a) make deb ------------------------------------------------------------------

start=$SECONDS
if make -C "$ROOT" deb >"$TMP/deb-build.log" 2>&1 && [[ -f $DEB ]]; then
	pass deb/build
else
	fail deb/build "make deb failed or made no $DEB: $(tail -n 5 "$TMP/deb-build.log")"
	finish
fi
echo "# make deb: $((SECONDS - start)) s"

# Every file, as root's.
dpkg-deb -c "$DEB" >"$TMP/deb-contents.txt"
# in_deb PATH [MODE]: the .deb has PATH as root's file (of MODE).
in_deb() {
	awk -v f=".$1" -v m="${2:-}" '$6 == f && $2 == "root/root" &&
		$1 ~ /^-/ && (m == "" || $1 == m) { found = 1 }
		END { exit !found }' "$TMP/deb-contents.txt"
}
missing=()
for f in "${FILES[@]}"; do
	in_deb "$f" || missing+=("$f")
done
if ((${#missing[@]} == 0)); then
	pass deb/contents
else
	fail deb/contents "not in the .deb (or not root's): ${missing[*]}"
fi
# man_docs ROOT: the documents the manual pages under ROOT (a package's
# files, unpacked) name, one a line; a source path (docs/X.md) as
# "source:docs/X.md", which no installed page should name.
man_docs() {
	local pages=("$1"/usr/share/man/man*/*)
	((${#pages[@]} == 3)) || echo "pages:${#pages[@]}"
	zcat -f "${pages[@]}" | grep -oE '/usr/share/doc/memwatch/[A-Za-z0-9_./-]+[A-Za-z0-9_-]' | sort -u
	zcat -f "${pages[@]}" | grep -oE '(^|[^/A-Za-z])docs/[A-Za-z0-9_.-]+' |
		sed 's/^[^d]*/source:/' | sort -u
}
# check_man_docs CASE ROOT LIST: every document ROOT's pages name is a
# line of LIST (the package's files).
check_man_docs() {
	local d docs bad=()
	docs=$(man_docs "$2" || true)
	for d in $docs; do
		[[ $d == /* ]] && grep -qxF -- "$d" "$3" || bad+=("$d")
	done
	if [[ -n $docs && ${#bad[@]} == 0 ]]; then
		pass "$1"
	else
		fail "$1" "named by the manual pages, not in the package: ${bad[*]:-the pages name no document}"
	fi
}
mkdir "$TMP/deb-root"
dpkg-deb -x "$DEB" "$TMP/deb-root"
# The package's regular files, without dpkg-deb -c's leading dot.
awk '$1 ~ /^-/ { print substr($6, 2) }' "$TMP/deb-contents.txt" >"$TMP/deb-files.txt"
check_man_docs deb/man_docs "$TMP/deb-root" "$TMP/deb-files.txt"
if in_deb /usr/sbin/memwatchd -rwxr-xr-x && in_deb /usr/bin/memwatchctl -rwxr-xr-x &&
	in_deb /etc/memwatch/memwatchd.conf -rw-r--r--; then
	pass deb/modes
else
	fail deb/modes "want the programs -rwxr-xr-x, the configuration -rw-r--r--: $(grep -E 'bin/memwatch|\.conf$' "$TMP/deb-contents.txt")"
fi

got=$(dpkg-deb --ctrl-tarfile "$DEB" | tar -xOf - ./conffiles 2>&1 || true)
if [[ $got == /etc/memwatch/memwatchd.conf ]]; then
	pass deb/conffiles
else
	fail deb/conffiles "conffiles is '$got', want /etc/memwatch/memwatchd.conf"
fi

got=$(dpkg-deb -f "$DEB" Package Version Architecture)
want="Package: memwatch
Version: $VERSION
Architecture: $(dpkg --print-architecture)"
if [[ $got == "$want" ]]; then
	pass deb/version
else
	fail deb/version "got '$got', want '$want'"
fi

# The libraries come from dpkg-shlibdeps, reading what the programs link.
depends=$(dpkg-deb -f "$DEB" Depends)
missing=()
for p in adduser libbpf1 libc6 libdw1 libelf1 libmicrohttpd12 libsqlite3-0 \
	libstdc++6 libsystemd0 zlib1g; do
	[[ ", $depends," == *", $p "* || ", $depends," == *", $p,"* ]] ||
		missing+=("$p")
done
if ((${#missing[@]} == 0)); then
	pass deb/depends
else
	fail deb/depends "Depends lacks ${missing[*]}: '$depends'"
fi

# Debian's own checks of a package: no error, no warning.
# --display-info: the changelog's tags of every level, checked below.
if lintian --fail-on error,warning --display-info "$DEB" >"$TMP/lintian.out" 2>&1; then
	pass deb/lintian
else
	fail deb/lintian "$(head -n 5 "$TMP/lintian.out")"
fi

# The changelog the package ships (usr/share/doc/memwatch/changelog.gz,
# a native package's): a real one. Its newest entry is this version's;
# every entry lists at least two changes and none is a bare "memwatch
# VERSION."; the versions go down the file; lintian tags nothing in it.
clog=$TMP/deb-root/usr/share/doc/memwatch/changelog.gz
if [[ -f $clog ]]; then
	zcat "$clog" >"$TMP/changelog"
	top=$(dpkg-parsechangelog -l "$TMP/changelog" -S Version 2>&1 || true)
	dpkg-parsechangelog -l "$TMP/changelog" --all -S Version >"$TMP/clog-versions" 2>&1 || true
	# Changes per entry: "  * " items between a header and its trailer.
	thin=$(awk '/^[a-z0-9]/ { v = $2; n = 0 } /^  \* / { n++; if ($0 ~ /^  \* memwatch [^ ]*\.$/) bare = bare " " v }
		/^ -- / { if (n < 2) thin = thin " " v } END { print thin bare }' "$TMP/changelog")
	order=ok
	prev=
	while read -r v; do
		if [[ -n $prev ]] && ! dpkg --compare-versions "$prev" gt "$v"; then
			order="$prev then $v"
		fi
		prev=$v
	done <"$TMP/clog-versions"
	tags=$(grep -iE '^[EWIP]: memwatch[^:]*: [a-z0-9-]*changelog' "$TMP/lintian.out" || true)
	if [[ $top == "$VERSION" && -z $thin && $order == ok && -z $tags ]]; then
		pass deb/changelog
	else
		fail deb/changelog "newest '$top' (want $VERSION); thin or placeholder entries:${thin:- none}; order: $order; lintian: ${tags:-none}"
	fi
else
	fail deb/changelog "the package has no usr/share/doc/memwatch/changelog.gz"
fi

# The sysusers.d file, as systemd-sysusers reads it, makes a system group
# memwatch (in a root of its own: this host's /etc/group is not touched).
mkdir -p "$TMP/sysroot/etc"
if systemd-sysusers --root="$TMP/sysroot" - \
	<"$TMP/deb-root/usr/lib/sysusers.d/memwatch.conf" >"$TMP/sysusers.out" 2>&1 &&
	gid=$(awk -F: '$1 == "memwatch" { print $3 }' "$TMP/sysroot/etc/group") &&
	[[ -n $gid ]] && ((gid < 1000)); then
	pass deb/sysusers
else
	fail deb/sysusers "systemd-sysusers made no system group memwatch: $(cat "$TMP/sysusers.out" "$TMP/sysroot/etc/group" 2>&1 | head -c 300)"
fi

# --- (b) dpkg -i -------------------------------------------------------------------

# The dependencies are what `make deps` installed; apt-get -f would fetch
# whatever is missing, but then this host's setup is wrong: a FAIL.
start=$SECONDS
INSTALLED=1
if dpkg -i "$DEB" >"$TMP/install.out" 2>&1; then
	pass install/dpkg
else
	fail install/dpkg "dpkg -i failed: $(tail -n 3 "$TMP/install.out")"
	DEBIAN_FRONTEND=noninteractive apt-get install -f -y -qq \
		>"$TMP/install-f.out" 2>&1 || true
fi
echo "# dpkg -i: $((SECONDS - start)) s"
if [[ $(pkg_status) != installed ]]; then
	fail install/status "dpkg says memwatch is '$(pkg_status)', not installed"
	finish
fi
pass install/status

missing=()
for f in "${FILES[@]}"; do
	[[ -f $f ]] || missing+=("$f")
done
if ((${#missing[@]} == 0)); then
	pass install/files
else
	fail install/files "not installed: ${missing[*]}"
fi

# memwatchctl's first line; the others say what libbpf and kernel.
got="$(/usr/bin/memwatchctl --version 2>&1 | awk 'NR == 1' || true); $(/usr/sbin/memwatchd --version 2>&1 || true)"
if [[ $got == "memwatchctl $VERSION; memwatchd $VERSION" ]]; then
	pass installed/version
else
	fail installed/version "got '$got', want 'memwatchctl $VERSION; memwatchd $VERSION'"
fi

if /usr/sbin/memwatchd --check-config --config /etc/memwatch/memwatchd.conf \
	>"$TMP/check.out" 2>&1 && [[ $(cat "$TMP/check.out") == "configuration OK" ]]; then
	pass installed/check_config
else
	fail installed/check_config "$(cat "$TMP/check.out")"
fi

# A system group: its gid in adduser's system range (100-999 by default).
if group=$(getent group memwatch); then
	gid=$(cut -d: -f3 <<<"$group")
	if ((gid >= 100 && gid < 1000)); then
		pass installed/group
	else
		fail installed/group "group memwatch has gid $gid, not a system group's"
	fi
else
	fail installed/group "no group memwatch after the install"
fi

# Installing again (as an upgrade does) keeps the group, gid and all.
gid=$(getent group memwatch | cut -d: -f3 || true)
if dpkg -i "$DEB" >"$TMP/reinstall.out" 2>&1; then
	got=$(getent group memwatch | cut -d: -f3 || true)
	if [[ -n $gid && $got == "$gid" ]]; then
		pass install/again
	else
		fail install/again "group memwatch had gid '$gid', now '$got'"
	fi
else
	fail install/again "dpkg -i a second time failed: $(tail -n 3 "$TMP/reinstall.out")"
fi

got=$(env -u MANPATH man -w memwatchd memwatchctl memwatchd.conf 2>&1 | tr '\n' ' ' || true)
want="/usr/share/man/man8/memwatchd.8.gz /usr/share/man/man1/memwatchctl.1.gz /usr/share/man/man5/memwatchd.conf.5.gz "
if [[ $got == "$want" ]]; then
	pass installed/man
else
	fail installed/man "man -w gave '$got', want '$want'"
fi

# Now that ExecStart's /usr/sbin/memwatchd and the pages exist, the unit
# as installed is clean; debhelper's postinst enabled it (started it too,
# were systemd running: here it is not, and the install must not care).
if systemd-analyze verify /lib/systemd/system/memwatchd.service \
	>"$TMP/verify.out" 2>&1 && [[ ! -s $TMP/verify.out ]]; then
	pass installed/unit_verify
else
	fail installed/unit_verify "$(cat "$TMP/verify.out")"
fi
if [[ $(readlink "$WANTS" 2>/dev/null) == /lib/systemd/system/memwatchd.service ]]; then
	pass installed/unit_enabled
else
	fail installed/unit_enabled "$WANTS is not a link to the unit: $(ls -l "$WANTS" 2>&1)"
fi

# The completion, sourced as bash-completion would, completes a command.
got=$(bash -c 'source /usr/share/bash-completion/completions/memwatchctl &&
	COMP_WORDS=(memwatchctl expl) COMP_CWORD=1 &&
	COMP_LINE="memwatchctl expl" COMP_POINT=16 &&
	_memwatchctl memwatchctl expl memwatchctl &&
	printf "%s\n" "${COMPREPLY[@]}"' 2>&1 || true)
if [[ $got == explain ]]; then
	pass installed/completion
else
	fail installed/completion "'memwatchctl expl<TAB>' gave '$got', want 'explain'"
fi

# --- (c) the installed programs at work --------------------------------------------

# As the service runs it: the installed configuration and the default
# database in /var/lib/memwatch, which memwatchd makes; the socket is
# this suite's and /metrics is off (another memwatchd may hold either).
MEMWATCHD=/usr/sbin/memwatchd
MEMWATCHCTL=/usr/bin/memwatchctl
DB=$VARLIB/memwatch.db
rc=0
timeout -k 5 120 "$MEMWATCHD" --config /etc/memwatch/memwatchd.conf \
	--socket "$SOCK" --metrics-listen none -- "$WL/tls_nodtor" 8 4096 \
	>"$TMP/run.out" 2>"$TMP/run.err" || rc=$?
if [[ $rc == 0 ]]; then
	pass run/exit_status
else
	fail run/exit_status "memwatchd exited $rc: $(tail -n 1 "$TMP/run.err")"
fi
if query run/findings "$TMP/findings.json" findings; then
	check_tls_findings run/findings "$TMP/findings.json" 8 \
		tls-outlived-thread 4096 tls_nodtor_alloc
fi
# The group the postinst made is the database's: its members may query.
got=$(stat -c '%U:%G' "$DB" 2>&1 || true)
if [[ $got == root:memwatch ]]; then
	pass run/db_group
else
	fail run/db_group "$DB is '$got', want root:memwatch"
fi

# --- (d) dpkg --purge --------------------------------------------------------------

# What an admin leaves: an edited conffile and a file of their own.
echo "# edited" >>/etc/memwatch/memwatchd.conf
echo "# mine" >/etc/memwatch/local.conf
if dpkg --purge memwatch >"$TMP/purge.out" 2>&1; then
	pass purge/dpkg
else
	fail purge/dpkg "$(tail -n 3 "$TMP/purge.out")"
fi
st=$(pkg_status)
if [[ -z $st || $st == not-installed ]]; then
	pass purge/status
else
	fail purge/status "dpkg says memwatch is '$st' after the purge"
fi
left=()
for f in "${FILES[@]}" "$ETC" "$VARLIB" "$WANTS" /usr/share/memwatch \
	/usr/share/doc/memwatch; do
	[[ -e $f || -L $f ]] && left+=("$f")
done
if ((${#left[@]} == 0)); then
	pass purge/files
else
	fail purge/files "still there: ${left[*]}"
fi
# Kept, as Debian keeps the groups packages made (the postrm says why).
if getent group memwatch >/dev/null; then
	pass purge/group_kept
else
	fail purge/group_kept "group memwatch went with the purge"
fi
# The postinst's fallback where systemd-sysusers is missing: its own part
# (before debhelper's) run with a PATH that has every command but that
# one, on a host without the group: addgroup makes a system group.
groupdel memwatch 2>/dev/null || true
mkdir "$TMP/path"
for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
	for f in "$d"/*; do
		[[ ${f##*/} != systemd-sysusers && ! -e $TMP/path/${f##*/} ]] || continue
		ln -s "$f" "$TMP/path/${f##*/}"
	done
done
dpkg-deb --ctrl-tarfile "$DEB" | tar -xOf - ./postinst |
	sed '/^# Automatically added by/,$d' >"$TMP/postinst-own.sh"
if grep -q addgroup "$TMP/postinst-own.sh" &&
	PATH=$TMP/path sh "$TMP/postinst-own.sh" configure >"$TMP/fallback.out" 2>&1 &&
	gid=$(getent group memwatch | cut -d: -f3) && ((gid >= 100 && gid < 1000)); then
	pass purge/postinst_addgroup
else
	fail purge/postinst_addgroup "no system group memwatch from the postinst without systemd-sysusers: $(head -c 300 "$TMP/fallback.out")"
fi
snapshot >"$TMP/after.txt"
if diff "$TMP/before.txt" "$TMP/after.txt" >"$TMP/snapshot.diff"; then
	pass purge/nothing_left
else
	fail purge/nothing_left "paths that differ from before the install: $(grep '^[<>]' "$TMP/snapshot.diff" | head -n 20)"
fi
put_back
INSTALLED=0

# --- (e) make rpm ------------------------------------------------------------------

start=$SECONDS
if make -C "$ROOT" rpm >"$TMP/rpm-build.log" 2>&1 && [[ -f $RPM ]]; then
	pass rpm/build
else
	fail rpm/build "make rpm failed or made no $RPM: $(tail -n 5 "$TMP/rpm-build.log")"
	finish
fi
echo "# make rpm: $((SECONDS - start)) s"

# Manual pages as rpmbuild's brp-compress left them: gzipped on an RPM
# distribution, as they are on Debian's rpm, which has none.
rpm -qlp "$RPM" 2>&1 | sed -E 's#^(/usr/share/man/.*)\.gz$#\1#' \
	>"$TMP/rpm-files.txt" || true
missing=()
for f in "${FILES[@]}"; do
	# An RPM distribution's paths: the unit in /usr/lib.
	f=${f/#\/lib\/systemd/\/usr\/lib\/systemd}
	[[ $f != /usr/share/man/* ]] || f=${f%.gz}
	grep -qxF -- "$f" "$TMP/rpm-files.txt" || missing+=("$f")
done
if ((${#missing[@]} == 0)); then
	pass rpm/files
else
	fail rpm/files "not in the rpm: ${missing[*]}"
fi
# The pages as the rpm has them (rpm2cpio: rpm's own tool), and the
# documents they name among its files.
mkdir "$TMP/rpm-root"
(cd "$TMP/rpm-root" && rpm2cpio "$RPM" | cpio -idm --quiet 2>/dev/null) || true
rpm -qlp "$RPM" >"$TMP/rpm-all-files.txt" 2>&1 || true
check_man_docs rpm/man_docs "$TMP/rpm-root" "$TMP/rpm-all-files.txt"
got=$(rpm -qp --configfiles "$RPM" 2>&1 || true)
if [[ $got == /etc/memwatch/memwatchd.conf ]]; then
	pass rpm/config
else
	fail rpm/config "config files '$got', want /etc/memwatch/memwatchd.conf"
fi
got=$(rpm -qp --qf '%{NAME} %{VERSION}' "$RPM" 2>&1 || true)
if [[ $got == "memwatch $VERSION" ]]; then
	pass rpm/version
else
	fail rpm/version "got '$got', want 'memwatch $VERSION'"
fi
rpm -qp --scripts "$RPM" >"$TMP/rpm-scripts.txt" 2>&1 || true
if awk '/^preinstall scriptlet/ { pre = 1; next } /scriptlet/ { pre = 0 }
	pre && /systemd-sysusers --replace=\/usr\/lib\/sysusers.d\/memwatch.conf/ { s = 1 }
	pre && /groupadd -r memwatch/ { g = 1 } END { exit !(s && g) }' \
	"$TMP/rpm-scripts.txt"; then
	pass rpm/pre_group
else
	fail rpm/pre_group "no systemd-sysusers on memwatch.conf and groupadd -r memwatch in %pre: $(head -c 300 "$TMP/rpm-scripts.txt")"
fi
# No removal of the group in any scriptlet.
if grep -qE 'groupdel|delgroup' "$TMP/rpm-scripts.txt"; then
	fail rpm/group_kept "a scriptlet removes the group: $(grep -E 'groupdel|delgroup' "$TMP/rpm-scripts.txt")"
else
	pass rpm/group_kept
fi
# The newest %changelog entry is this version's, in step with Debian's.
got=$(rpm -qp --changelog "$RPM" 2>&1 | head -n 1 || true)
if [[ $got == *" - $VERSION-1" ]]; then
	pass rpm/changelog
else
	fail rpm/changelog "newest %changelog entry '$got', want one for $VERSION-1"
fi
# rpm's dependency generator read the programs' libraries too.
rpm -qpR "$RPM" >"$TMP/rpm-requires.txt" 2>&1 || true
missing=()
for lib in libbpf.so.1 libdw.so.1 libelf.so.1 libmicrohttpd.so.12 \
	libsqlite3.so.0 libsystemd.so.0 libz.so.1; do
	grep -q "^$lib(" "$TMP/rpm-requires.txt" || missing+=("$lib")
done
if ((${#missing[@]} == 0)); then
	pass rpm/requires
else
	fail rpm/requires "not required: ${missing[*]}"
fi

finish
