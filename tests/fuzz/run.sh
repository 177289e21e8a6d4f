#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# usage: tests/fuzz/run.sh [--fresh] FUZZER SEEDS SECONDS WORKDIR
# Runs a libFuzzer harness for SECONDS over WORKDIR/corpus, a copy of the
# checked-in seed corpus SEEDS (tests/fuzz/corpus/NAME), which keeps what
# the fuzzer finds from one run to the next; --fresh starts it over from the
# seeds alone (CI). The seeds never change: new inputs go to the copy. A
# crash, leak, timeout or broken invariant fails the run and leaves its
# input in WORKDIR/artifacts/ (add it to SEEDS once the bug is fixed).
# tests/fuzz/NAME.dict, if present, is passed as the dictionary.
set -eu

fresh=0
if [ "${1:-}" = "--fresh" ]; then
  fresh=1
  shift
fi
if [ "$#" -ne 4 ]; then
  echo "usage: $0 [--fresh] FUZZER SEEDS SECONDS WORKDIR" >&2
  exit 2
fi
fuzzer="$1"
seeds="$2"
seconds="$3"
work="$4"
name=$(basename "$seeds")
dict="$(dirname "$0")/$name.dict"

if [ "$fresh" -eq 1 ]; then
  rm -rf "$work/corpus" "$work/artifacts"
fi
mkdir -p "$work/corpus" "$work/artifacts"
cp "$seeds"/* "$work/corpus/"
stamp="$work/artifacts/.start"
touch "$stamp"
count() { find "$1" -type f | wc -l; }

set -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$work/artifacts/"
if [ -f "$dict" ]; then
  set -- "$@" -dict="$dict"
fi

echo "fuzz $name: ${seconds}s over $work/corpus ($(count "$work/corpus") inputs)"
status=0
"$fuzzer" "$@" "$work/corpus" || status=$?
if [ "$status" -ne 0 ]; then
  echo "fuzz $name: FAILED (exit $status); reproduce with:" >&2
  find "$work/artifacts" -type f -newer "$stamp" -exec echo "  $fuzzer" {} \; >&2
  exit "$status"
fi
echo "fuzz $name: OK, corpus now $(count "$work/corpus") inputs"
