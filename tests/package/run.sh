#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The Debian package (part of `make test`): builds it with the Debian tools
# (scripts/package.sh: dpkg-buildpackage -b in a copy of the tree), lintian
# on the binary packages and on a source package built from the same copy
# (errors and warnings fail; `lintian --pedantic` is printed), then checks
# what the .deb holds: the files the CMake install() rules put there, the
# conffile, the maintainer scripts debhelper wrote around ours, the
# dependencies, and that a --rebuild is an upgrade of it. Installing,
# upgrading, removing and purging it on a booted system is the image test's
# job (tests/image/run.sh).
#
# usage: tests/package/run.sh [BUILD_DIR]   (default build-pkg)
# Output ends with `N passed, N failed`; exit status 0 only when nothing
# failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-pkg}
passed=0
failed=0
check() {
  local what=$1
  shift
  if "$@"; then
    echo "ok: $what"
    passed=$((passed + 1))
  else
    echo "FAIL: $what"
    failed=$((failed + 1))
  fi
}

t=$SECONDS
# Errors and warnings from lintian fail package.sh (and so this test).
deb=$(sh scripts/package.sh --build "$build" | tail -n 1)
echo "package: $deb in $((SECONDS - t)) s, lintian clean (errors, warnings)"
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
arch=$(dpkg-architecture -q DEB_HOST_ARCH)
changes="$build/src/synwatch_${version}_$arch.changes"

# --- lintian: the source package too, and what --pedantic adds --------------
srcdir="$build/source"
rm -rf "$srcdir"
mkdir -p "$srcdir/synwatch-${version%-*}"
tar -cf - -C "$build/src/synwatch" --exclude='./obj-*' --exclude=./debian --exclude=./build.log . |
  tar -xf - -C "$srcdir/synwatch-${version%-*}"
tar -cJf "$srcdir/synwatch_${version%-*}.orig.tar.xz" -C "$srcdir" "synwatch-${version%-*}"
cp -a debian "$srcdir/synwatch-${version%-*}/"
(cd "$srcdir" && dpkg-source -b "synwatch-${version%-*}" >dpkg-source.log 2>&1) ||
  { cat "$srcdir/dpkg-source.log"; exit 1; }
dsc="$srcdir/synwatch_$version.dsc"
check "source package: lintian has no errors or warnings" \
  lintian --fail-on error,warning "$dsc"
echo "lintian --pedantic -I (source, binary and dbgsym packages):"
lintian --pedantic -I "$dsc" "$changes" 2>/dev/null | sed 's/^/  /' || true

# --- what the .deb holds ---------------------------------------------------------
files=$(dpkg-deb -c "$deb" | awk '{ print $6 }')
has() { grep -qx "./$1" <<<"$files"; }
for f in usr/bin/synwatch lib/systemd/system/synwatch.service etc/synwatch/synwatch.toml \
  usr/lib/tmpfiles.d/synwatch.conf usr/share/man/man1/synwatch.1.gz \
  usr/share/doc/synwatch/copyright usr/share/doc/synwatch/changelog.Debian.gz \
  usr/share/synwatch/prometheus/synwatch-alerts.yml usr/share/synwatch/prometheus/synwatch-rules.yml \
  usr/share/synwatch/grafana/synwatch-host.json usr/share/synwatch/grafana/synwatch-fleet.json \
  usr/share/synwatch/crowdsec/parsers/s01-parse/synwatch-logs.yaml \
  usr/share/synwatch/crowdsec/scenarios/synwatch-port-scan.yaml \
  usr/share/synwatch/crowdsec/acquis.d/synwatch.yaml; do
  check "ships /$f" has "$f"
done
ctl=$(mktemp -d)
trap 'rm -rf "$ctl"' EXIT
dpkg-deb -e "$deb" "$ctl"
check "the one conffile is /etc/synwatch/synwatch.toml" test "$(cat "$ctl/conffiles")" = /etc/synwatch/synwatch.toml
check "the unit is image/synwatch.service" \
  cmp -s image/synwatch.service <(dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./lib/systemd/system/synwatch.service)
check "the binary is stripped (debug symbols in synwatch-dbgsym)" \
  sh -c "dpkg-deb --fsys-tarfile '$deb' | tar -xOf - ./usr/bin/synwatch > '$ctl/bin' && file '$ctl/bin' | grep -q ', stripped'"
check "the binary is hardened (PIE, bind-now)" \
  sh -c "readelf -d '$ctl/bin' | grep -q 'FLAGS.*BIND_NOW' && readelf -h '$ctl/bin' | grep -q 'DYN'"
check "the shipped alerting rules are the mixin's (puppet/files/prometheus, kept equal by unit.ops_mixin)" \
  cmp -s puppet/files/prometheus/synwatch-alerts.yml <(dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./usr/share/synwatch/prometheus/synwatch-alerts.yml)
check "the shipped CrowdSec parser is ops/crowdsec's (checked by unit.crowdsec_hub)" \
  cmp -s ops/crowdsec/parsers/s01-parse/synwatch-logs.yaml <(dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./usr/share/synwatch/crowdsec/parsers/s01-parse/synwatch-logs.yaml)
check "every maintainer script passes sh -n" sh -c "sh -n '$ctl/postinst' && sh -n '$ctl/prerm' && sh -n '$ctl/postrm'"
# line LINE_PATTERN FILE: the number of the first line matching.
line() { grep -n -m1 -e "$1" "$2" | cut -d: -f1; }
in_order() { # FILE PATTERN... : each pattern is there, after the one before
  local file=$1 prev=0 n
  shift
  for p in "$@"; do
    n=$(line "$p" "$file")
    [ -n "$n" ] && [ "$n" -gt "$prev" ] || return 1
    prev=$n
  done
}
check "postinst: user, then dh_installtmpfiles, then dh_installsystemd enable and start/restart" \
  in_order "$ctl/postinst" 'adduser --system --group' 'systemd-tmpfiles .*--create synwatch.conf' \
  "deb-systemd-helper enable 'synwatch.service'" '_dh_action=restart' "deb-systemd-invoke \$_dh_action 'synwatch.service'"
check "prerm: dh_installsystemd stops only on remove, then synwatch --detach" \
  in_order "$ctl/prerm" "\[ \"\$1\" = remove \] && \[ -d /run/systemd/system \]" "deb-systemd-invoke stop 'synwatch.service'" 'synwatch --detach'
check "prerm: nothing stops on upgrade (restart after the upgrade instead)" \
  test "$(grep -c 'deb-systemd-invoke stop' "$ctl/prerm")" = 1
check "postrm: dh_installsystemd purges the unit's state, then /etc/synwatch goes" \
  in_order "$ctl/postrm" "deb-systemd-helper purge 'synwatch.service'" 'rm -rf /etc/synwatch'
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for d in adduser procps 'libssl3 (>= 3' libbpf1 libc6; do
  check "Depends names $d" grep -qF "$d" <<<"$depends"
done
check "Version is debian/changelog's ($version)" test "$(dpkg-deb -f "$deb" Version)" = "$version"

# --- a rebuild is an upgrade (the image test installs it over this one) -------
t=$SECONDS
rebuilt=$(sh scripts/package.sh --build "$build" --rebuild 1 --no-lintian | tail -n 1)
rv=$(dpkg-deb -f "$rebuilt" Version)
echo "rebuild: $rebuilt ($rv) in $((SECONDS - t)) s"
check "--rebuild 1 is $version+b1" test "$rv" = "$version+b1"
check "$rv sorts after $version" dpkg --compare-versions "$rv" gt "$version"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
