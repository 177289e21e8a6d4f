#!/bin/sh -eux
# SPDX-License-Identifier: Apache-2.0
# The package left what the image promises: the service enabled for every
# boot, the default config in place and valid, the binary runnable.
systemctl is-enabled synwatch.service
test -f /etc/synwatch/synwatch.toml
dpkg-query -W -f='${Conffiles}\n' synwatch | grep -q /etc/synwatch/synwatch.toml
synwatch --version
synwatch --check-config --config /etc/synwatch/synwatch.toml
id synwatch
systemctl --no-pager status synwatch.service || true
