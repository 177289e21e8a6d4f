#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# usage: scripts/fuzz.sh [BUILD_FUZZ [SECONDS]]   (`make fuzz`)
# Fuzzes every harness of tests/fuzz for SECONDS (default 60) each, over a
# copy of its seed corpus kept in BUILD_FUZZ/fuzz/NAME/corpus, so that a
# later run goes on from what this one found. Runs them all, then fails if
# any found a crash or a broken invariant (inputs in BUILD_FUZZ/fuzz/NAME/
# artifacts/). CI runs the same harnesses briefly from the seeds alone
# (`ctest -L fuzz` in BUILD_FUZZ, part of `make test`).
set -eu
BUILD="${1:-build-fuzz}"
SECONDS_EACH="${2:-60}"
cd "$(dirname "$0")/.."

failed=""
for seeds in tests/fuzz/corpus/*/; do
  name=$(basename "$seeds")
  if ! sh tests/fuzz/run.sh "$BUILD/tests/fuzz/fuzz_$name" "$seeds" \
    "$SECONDS_EACH" "$BUILD/fuzz/$name"; then
    failed="$failed $name"
  fi
done
if [ -n "$failed" ]; then
  echo "fuzz: FAILED:$failed" >&2
  exit 1
fi
echo "fuzz: OK"
