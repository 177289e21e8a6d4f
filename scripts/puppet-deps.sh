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

# shellcheck disable=SC2086 # one word per package
exec sh "$(dirname "$0")/apt-install.sh" puppet-deps $PACKAGES
