#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# `make image-test`: static checks (scripts/image/check.sh), the test of the
# accelerator fallback (tests/image/accel_fallback_test.sh), the image
# (scripts/image/image.sh), a newer build of the same package for the upgrade
# step (version +b1: scripts/package.sh --rebuild 1), then boot the image and
# run tests/image/run.sh.
# Prints the time of each phase.
#
# SYNWATCH_IMAGE_TEST_FAKE_KVM (auto): 1 makes the bake and the boot test try
# a KVM that fails 15 s into the guest (tests/image/fake-kvm, "KVM internal
# error") and checks that both fell back to TCG; auto does so where the
# steps run under TCG anyway (no writable /dev/kvm, no VM_ACCEL or
# PACKER_ACCEL), at a cost of about 20 s per step; 0 never.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
t0=$SECONDS
mkdir -p build/image

bash scripts/image/check.sh
t=$SECONDS
bash tests/image/accel_fallback_test.sh
echo "image-test: accelerator fallback test in $((SECONDS - t)) s"

fake=${SYNWATCH_IMAGE_TEST_FAKE_KVM:-auto}
if [ "$fake" = auto ]; then
  if [ -w /dev/kvm ] || [ -n "${VM_ACCEL:-}${PACKER_ACCEL:-}" ]; then fake=0; else fake=1; fi
fi
if [ "$fake" = 1 ]; then
  echo "image-test: bake and boot try a failing fake KVM first (tests/image/fake-kvm)"
  export PATH="$root/tests/image/fake-kvm:$PATH" SYNWATCH_ACCEL_TRY_KVM=1
  export SYNWATCH_FAKE_KVM=error SYNWATCH_FAKE_KVM_AFTER=15
  unset VM_ACCEL PACKER_ACCEL
fi
# fell_back STEP LOG: the step logged the fallback from the fake KVM.
fell_back() {
  if grep -q 'KVM failed (KVM internal error), retrying under TCG' "$2"; then
    echo "image-test: ok: $1 fell back from the failing KVM to TCG"
  else
    echo "image-test: FAIL: $1 did not log 'KVM failed (KVM internal error), retrying under TCG'"
    return 1
  fi
}

# The image path on stdout; everything else also into image.log.
image=$({ bash scripts/image/image.sh 2>&1 1>&3 | tee build/image/image.log >&2; } 3>&1 | tail -n 1)
if [ "$fake" = 1 ]; then fell_back "the bake" build/image/image.log; fi
t=$SECONDS
upgrade=$(sh scripts/package.sh --rebuild 1 --no-lintian | tail -n 1)
# Kept apart: the second rebuild writes a .deb of the same name pattern.
cp "$upgrade" build/image/
upgrade=build/image/$(basename "$upgrade")
upgrade2=$(sh scripts/package.sh --rebuild 2 --no-lintian | tail -n 1)
echo "image-test: upgrade packages $upgrade and $upgrade2 in $((SECONDS - t)) s"
t=$SECONDS
rc=0
SYNWATCH_IMAGE_TEST_ARTIFACTS=${SYNWATCH_IMAGE_TEST_ARTIFACTS:-build/image/artifacts} \
  bash tests/image/run.sh "$image" "$upgrade" "$upgrade2" 2>&1 | tee build/image/boot-test.log || rc=$?
if [ "$fake" = 1 ] && [ "$rc" = 0 ]; then fell_back "the boot test" build/image/boot-test.log || rc=1; fi
echo "image-test: boot test in $((SECONDS - t)) s; everything in $((SECONDS - t0)) s"
exit "$rc"
