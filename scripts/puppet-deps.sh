#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages the Puppet module's checks need: puppet (7.x), puppet-lint,
# rspec-puppet + puppetlabs_spec_helper, puppet-strings (REFERENCE.md), metadata-json-lint and
# ruby-tomlrb (the spec parses the rendered TOML).
# Everything comes from Debian's archive: no rubygems, no Forge.
# Idempotent and quiet when everything is already there.
set -eu

PACKAGES="
  puppet-agent
  puppet-lint
  ruby-rspec-puppet
  ruby-puppetlabs-spec-helper
  ruby-rspec
  puppet-strings
  metadata-json-lint
  ruby-json
  ruby-tomlrb
"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done

if [ -z "$missing" ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "puppet-deps: missing packages:$missing (run as root: sudo sh scripts/puppet-deps.sh)" >&2
  exit 1
fi

echo "puppet-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# Other set-up scripts may run apt at the same time: wait for the lock instead of failing.
apt-get -o DPkg::Lock::Timeout=600 update -qq
# shellcheck disable=SC2086
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing >/dev/null
