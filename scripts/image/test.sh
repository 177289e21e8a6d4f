#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# `make image-test`: static checks (scripts/image/check.sh), the image
# (scripts/image/image.sh), a newer build of the same package for the upgrade
# step (Debian revision 2), then boot the image and run tests/image/run.sh.
# Prints the time of each phase.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
t0=$SECONDS

bash scripts/image/check.sh
image=$(bash scripts/image/image.sh | tail -n 1)
t=$SECONDS
upgrade=$(sh scripts/package.sh --release 2 --no-lintian | tail -n 1)
echo "image-test: upgrade package $upgrade in $((SECONDS - t)) s"
t=$SECONDS
rc=0
SYNWATCH_IMAGE_TEST_ARTIFACTS=${SYNWATCH_IMAGE_TEST_ARTIFACTS:-build/image/artifacts} \
  bash tests/image/run.sh "$image" "$upgrade" || rc=$?
echo "image-test: boot test in $((SECONDS - t)) s; everything in $((SECONDS - t0)) s"
exit "$rc"
