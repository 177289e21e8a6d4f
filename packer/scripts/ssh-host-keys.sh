#!/bin/sh -eux
# SPDX-License-Identifier: Apache-2.0
# Every machine cloned from the image gets its own ssh host keys: drop the
# build's keys and generate new ones on the first boot, before sshd starts.
# (Debian's openssh-server makes keys only when the package is installed.)
cat >/etc/systemd/system/ssh-host-keys.service <<'UNIT'
[Unit]
Description=Generate missing ssh host keys
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=ssh.service
UNIT
systemctl enable ssh-host-keys.service
rm -f /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub
