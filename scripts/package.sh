#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds the synwatch .deb with CPack in its own build tree (Debian's hardening
# flags, prefix /usr, no tests), then runs lintian on it.
#
# usage: scripts/package.sh [--build DIR] [--release N] [--out DIR] [--no-lintian]
#   --build DIR    build tree (default build-pkg)
#   --release N    Debian revision, the -N in 0.1.0-N (default 1); the image
#                  test uses --release 2 to make an "upgrade" of the same build
#   --out DIR      where the .deb goes (default BUILD/pkg/out)
# Prints the path of the .deb on the last line of stdout.
set -eu

cd "$(dirname "$0")/.."
build="build-pkg"
release=1
out=
lintian=1
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --release) release=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-lintian) lintian=0; shift ;;
    *) echo "package: unknown argument $1" >&2; exit 2 ;;
  esac
done
out=${out:-$build/pkg/out}

sh scripts/deps.sh
sh scripts/image-deps.sh

if [ ! -f "$build/CMakeCache.txt" ]; then
  # Debian's build flags, hardening included (fortify, stack protector,
  # relro/now, PIE); CMake reads CFLAGS/CXXFLAGS/LDFLAGS on first configure.
  eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
  CFLAGS="$CFLAGS $CPPFLAGS" CXXFLAGS="$CXXFLAGS $CPPFLAGS" LDFLAGS="$LDFLAGS" \
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=None -DCMAKE_INSTALL_PREFIX=/usr \
    -DSYNWATCH_TESTS=OFF >/dev/null
fi
cmake --build "$build" -j "$(nproc)" --target synwatch synwatch_pkg_docs

mkdir -p "$out"
rm -f "$out"/synwatch_*-"$release"_*.deb
cpack --config "$build/CPackConfig.cmake" -G DEB -B "$build/pkg/cpack" \
  -D CPACK_DEBIAN_PACKAGE_RELEASE="$release" >/dev/null
mv "$build"/pkg/cpack/synwatch_*-"$release"_*.deb "$out/"
deb=$(ls "$out"/synwatch_*-"$release"_*.deb)

if [ "$lintian" -eq 1 ]; then
  # Errors fail the build; warnings are printed (README of image/ explains
  # the ones that stay).
  lintian --fail-on error --info "$deb" >&2
fi
echo "$deb"
