#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# `make image`: the .deb (scripts/package.sh), the local base image (cached),
# then the Packer bake. Prints the image path on the last line.
#
# usage: scripts/image/image.sh [OUTPUT.qcow2]   (default build/image/synwatch.qcow2)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out=${1:-build/image/synwatch.qcow2}

t=$SECONDS
deb=$(sh scripts/package.sh | tail -n 1)
echo "image: package $deb in $((SECONDS - t)) s" >&2
t=$SECONDS
bash scripts/image/build-base.sh >&2
echo "image: base image in $((SECONDS - t)) s" >&2
t=$SECONDS
bash scripts/image/bake.sh "$deb" "$out" >&2
echo "image: bake in $((SECONDS - t)) s" >&2
echo "$out"
