#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `make package`: builds the synwatch .deb with the Debian tools
# (dpkg-buildpackage -b, debhelper, debian/ at the top of the tree) in a copy
# of the tree, then runs lintian on it.
#
# usage: scripts/package.sh [--build DIR] [--rebuild N] [--out DIR] [--no-lintian]
#   --build DIR    work directory (default build-pkg). DIR/src/synwatch is the
#                  copy (the files git tracks plus untracked ones it does not
#                  ignore) that dpkg-buildpackage runs in; its CMake build
#                  tree (obj-*) is kept, so a second build is incremental
#   --rebuild N    version debian/changelog's plus "+bN" (a rebuild of the
#                  same source, as a binNMU is): the image test installs the
#                  changelog's version and upgrades to this one
#   --out DIR      where the .deb goes (default DIR/out)
#   --no-lintian   skip lintian
# JOBS sets the parallel jobs (default nproc). Prints the path of the .deb on
# the last line of stdout; lintian's findings go to stderr.
set -eu

cd "$(dirname "$0")/.."
root=$(pwd)
build="build-pkg"
rebuild=
out=
lintian=1
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --rebuild) rebuild=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-lintian) lintian=0; shift ;;
    *) echo "package: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$rebuild" in
  '' | *[!0-9]*) [ -z "$rebuild" ] || { echo "package: --rebuild takes a number" >&2; exit 2; } ;;
esac
out=${out:-$build/out}

sh scripts/deps.sh

# debian/changelog names the version; its upstream part must be CMake's.
cl_version=$(dpkg-parsechangelog -l debian/changelog -S Version)
cmake_version=$(sed -n 's/^project(synwatch VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
if [ "${cl_version%-*}" != "$cmake_version" ]; then
  echo "package: debian/changelog is at $cl_version, CMakeLists.txt at $cmake_version:" \
    "add a changelog entry (dch -v $cmake_version-1)" >&2
  exit 1
fi

# The copy: everything but the previous build's CMake tree is replaced, and
# tar keeps the files' times, so make rebuilds only what changed.
src="$build/src/synwatch"
mkdir -p "$src"
find "$src" -mindepth 1 -maxdepth 1 ! -name 'obj-*' -exec rm -rf {} +
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # Not the files deleted but not yet committed.
  # shellcheck disable=SC2016 # expands in the inner sh
  git ls-files -z --cached --others --exclude-standard |
    xargs -0 sh -c 'for f; do if [ -e "$f" ]; then printf "%s\n" "$f"; fi; done' sh |
    tar -cf - -T - | tar -xf - -C "$src"
else
  tar -cf - --exclude=./build --exclude='./build-*' --exclude='./obj-*' . | tar -xf - -C "$src"
fi
rm -f "$build"/src/synwatch_* "$build"/src/synwatch-dbgsym_*

version=$cl_version${rebuild:+"+b$rebuild"}
arch=$(dpkg-architecture -q DEB_HOST_ARCH)
(
  cd "$src"
  SYNWATCH_DEB_VERSION_SUFFIX=${rebuild:+"+b$rebuild"} \
    dpkg-buildpackage -b -us -uc --no-pre-clean -j"${JOBS:-$(nproc)}" >build.log 2>&1 ||
    { tail -n 60 build.log >&2; echo "package: dpkg-buildpackage failed; log: $root/$src/build.log" >&2; exit 1; }
)
deb="$build/src/synwatch_${version}_$arch.deb"
test -f "$deb" || { echo "package: $deb was not built" >&2; exit 1; }

mkdir -p "$out"
rm -f "$out/synwatch_${version}_$arch.deb"
cp "$deb" "$out/"
deb="$out/synwatch_${version}_$arch.deb"

if [ "$lintian" -eq 1 ]; then
  # Errors and warnings fail the build (debian/synwatch.lintian-overrides
  # says why the one overridden tag stays).
  lintian --fail-on error,warning --info "$build"/src/synwatch_"${cl_version}"_"$arch".changes >&2
fi
echo "$deb"
