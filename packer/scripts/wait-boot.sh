#!/bin/sh -eux
# SPDX-License-Identifier: Apache-2.0
# Wait until systemd has finished booting, so nothing later races first-boot
# units (machine-id, tmpfiles, networkd). "degraded" is reported, not fatal:
# the base image's own units are not ours to judge.
state=$(timeout 600 systemctl is-system-running --wait || true)
echo "systemd: $state"
systemctl --failed --no-legend || true
