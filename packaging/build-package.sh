#!/usr/bin/env bash
# packaging/build-package.sh - what `make deb` and `make rpm` run:
#
#   packaging/build-package.sh deb|rpm PACKAGE VERSION FILE...
#
# builds the Debian or RPM package of memwatch VERSION from FILE... (the
# tree's sources, as the Makefile lists them) and leaves it at PACKAGE,
# the path the Makefile expects; the other outputs (the dbgsym package,
# .buildinfo, .changes) go beside it. The package build compiles its own
# copy of the tree from scratch with the project's Makefile, into the
# .output/ of that copy: the developer's .output/ is neither used nor
# touched, so the package never holds a stale or hand-built object.
#
# deb: the copy is PACKAGE's directory/memwatch-VERSION, with
# packaging/debian/ as its debian/, whose changelog's newest entry must
# be VERSION's (a release adds its entry there, saying what changed);
# dpkg-buildpackage -b puts the packages in its parent.
# rpm: a tarball of the files, memwatch-VERSION.tar.gz with everything
# in memwatch-VERSION/, in a private rpmbuild _topdir, built with
# packaging/memwatch.spec. On Debian the rpm database knows none of the
# spec's BuildRequires (they are Debian packages here, checked by `make
# deps`), so rpmbuild runs with --nodeps, which skips that check only.
# The directory the copy is made in is removed once the package is built,
# kept if the build fails.
set -euo pipefail
# A package is always the plain build: not the sanitized one that
# `make check SANITIZE=...` passes down in MAKEFLAGS (mk/sanitize.mk).
unset MAKEFLAGS MFLAGS MAKEOVERRIDES MAKELEVEL SANITIZE

usage() {
	echo "usage: $0 deb|rpm PACKAGE VERSION FILE..." >&2
	exit 2
}

(($# >= 4)) || usage
kind=$1 package=$2 version=$3
shift 3
[[ $kind == deb || $kind == rpm ]] || usage
if [[ ! $version =~ ^[0-9][0-9A-Za-z.+~]*$ ]]; then
	echo "$0: bad version '$version'" >&2
	exit 1
fi

# PACKAGE as given, relative to where we were called; FILE... relative to
# the top of the tree, where the Makefile runs us.
out=$(dirname "$package")
mkdir -p "$out"
out=$(cd "$out" && pwd)
package=$out/$(basename "$package")
cd "$(dirname "$0")/.."
# The changelog's newest entry is this version's: its date is the
# package's (dpkg-buildpackage's SOURCE_DATE_EPOCH), so that two builds
# of the same tree are alike.
logged=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version 2>/dev/null || true)
if [[ $logged != "$version" ]]; then
	echo "$0: packaging/debian/changelog's newest entry is '$logged', not $version: add an entry for $version saying what changed" >&2
	exit 1
fi

# copy_tree DIR FILE...: the files, and only them, into a new DIR.
copy_tree() {
	local dir=$1
	shift
	rm -rf "$dir"
	mkdir -p "$dir"
	tar -cf - -- "$@" | tar -xf - -C "$dir"
}

build_deb() {
	local src=$out/memwatch-$version

	rm -f "$out"/memwatch_"$version"_* "$out"/memwatch-dbgsym_"$version"_*
	copy_tree "$src" "$@"
	cp -R "$src/packaging/debian" "$src/debian"
	# -J: the make jobs of DEB_BUILD_OPTIONS=parallel=, one a core.
	(cd "$src" && dpkg-buildpackage -b -us -uc -Jauto)
	rm -rf "$src"
}

build_rpm() {
	local top=$out/rpmbuild name=memwatch-$version

	rm -f "$out"/memwatch-"$version"-*.rpm
	rm -rf "$top"
	mkdir -p "$top/SOURCES"
	tar -czf "$top/SOURCES/$name.tar.gz" --transform "s,^,$name/," -- "$@"
	# Without --nodeps: "Failed build dependencies: bpftool is needed
	# by memwatch...", for every BuildRequires. (Debian's rpm makes no
	# debuginfo package; an RPM distribution's rpmbuild does.)
	rpmbuild -bb --nodeps --define "_topdir $top" \
		--define "mw_version $version" packaging/memwatch.spec
	mv "$top"/RPMS/*/memwatch-"$version"-*.rpm "$out"/
	rm -rf "$top"
}

"build_$kind" "$@"
if [[ ! -f $package ]]; then
	echo "$0: the build made no '$package':" "$out"/* >&2
	exit 1
fi
echo "$package"
