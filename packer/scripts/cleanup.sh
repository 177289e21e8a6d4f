#!/bin/sh -eux
# SPDX-License-Identifier: Apache-2.0
# Leave nothing of the build in the image: the uploaded files, apt caches,
# logs, the build's machine-id (a fresh one is made on first boot) and the
# key Packer logged in with.
rm -rf /tmp/synwatch-install
apt-get clean
rm -rf /var/lib/apt/lists/*
find /var/log -type f -name '*.log' -exec truncate -s 0 {} +
journalctl --rotate
journalctl --vacuum-time=1s
truncate -s 0 /etc/machine-id
rm -f /var/lib/dbus/machine-id
rm -f /root/.ssh/authorized_keys
sync
