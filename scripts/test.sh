#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Everything CI runs (`make test`): the unit, BPF and end-to-end suites on the
# -Werror build, the same suites on the ASan+UBSan build, each libFuzzer
# harness briefly (clang build), the shell, Puppet and Packer checks, the
# Debian package (dpkg-buildpackage, lintian, contents), the package/image
# boot test, the kernel matrix (a budgeted subset: see
# tests/kernel-matrix/README.md) and a real puppet apply in the VM image.
# BPF, e2e and VM tests need root.
set -eu
BUILD="${1:-build}"
ASAN="${2:-build-asan}"
FUZZ="${3:-build-fuzz}"
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "test: BPF and end-to-end tests need root: sudo make test" >&2
  exit 1
fi

step() { printf '\n==== %s\n' "$*"; }

step "unit, BPF and end-to-end tests (-Werror build)"
(cd "$BUILD" && ctest --output-on-failure --timeout 600)

step "unit, BPF and end-to-end tests (ASan+UBSan build)"
(cd "$ASAN" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure --timeout 600)

step "libFuzzer harnesses, briefly from their seed corpora (clang build)"
(cd "$FUZZ" && ctest -L fuzz --output-on-failure)

step "Puppet module: parser, lint, epp, metadata, REFERENCE.md, rspec-puppet"
SYNWATCH_BIN="$(realpath "$BUILD/synwatch")" bash tests/puppet/run.sh

step "Debian package: dpkg-buildpackage, lintian, contents and maintainer scripts"
bash tests/package/run.sh

step "package, VM image and boot test under qemu (install, upgrade, purge)"
bash scripts/image/test.sh

step "kernel matrix: Debian's 5.10, 6.1 and 6.12 under qemu (budgeted subset)"
bash tests/kernel-matrix/run.sh --quick "$BUILD"

step "Puppet module: a real puppet apply inside the VM image"
deb=$(sh scripts/package.sh --no-lintian | tail -n 1)
SYNWATCH_PUPPET_VM_REQUIRED=1 bash tests/puppet/apply-in-vm.sh build/image/synwatch.qcow2 "$deb"

step "shellcheck"
find scripts tests packer ops -name '*.sh' -exec shellcheck -x .ci/run {} +
echo "shellcheck: OK"
