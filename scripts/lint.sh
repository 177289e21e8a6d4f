#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# clang-format (check only), clang-tidy over the exporter, shellcheck.
set -eu
BUILD="${1:-build}"
cd "$(dirname "$0")/.."

echo "lint: clang-format"
clang-format --dry-run --Werror exporter/*.cc exporter/*/*.cc exporter/*/*.h tests/unit/*.cc \
  tests/bpf/*.cc tests/bpf/*.h bpf/*.c bpf/*.h tests/bench/*.c tests/bench/tools/*.cc \
  tests/fuzz/*.cc tests/fuzz/*.h

echo "lint: clang-tidy"
clang-tidy --quiet -p "$BUILD" --extra-arg=-Wno-overlength-strings exporter/*.cc exporter/*/*.cc 2>&1 | grep -v "^[0-9]* warnings generated" || true
clang-tidy --quiet -p "$BUILD" --extra-arg=-Wno-overlength-strings exporter/*.cc exporter/*/*.cc >/dev/null 2>&1

echo "lint: shellcheck"
find scripts tests packer ops -name '*.sh' -exec shellcheck -x .ci/run {} +

echo "lint: OK"
