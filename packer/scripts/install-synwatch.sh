#!/bin/sh -eux
# SPDX-License-Identifier: Apache-2.0
# Install the synwatch .deb uploaded to /tmp/synwatch-install. Dependencies
# come from a flat apt repository uploaded beside it when there is one (an
# offline build), else from the image's own apt sources.
export DEBIAN_FRONTEND=noninteractive
dir=/tmp/synwatch-install
deb=$(ls "$dir"/synwatch_*.deb)

repo=$(find "$dir" -mindepth 2 -maxdepth 2 -name Packages -printf '%h\n' | head -n1)
if [ -n "$repo" ]; then
  echo "deb [trusted=yes] file:$repo ./" >/etc/apt/sources.list.d/synwatch-offline.list
  apt-get update \
    -o Dir::Etc::sourcelist=sources.list.d/synwatch-offline.list \
    -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0
else
  apt-get update
fi

apt-get install -y --no-install-recommends "$deb"
rm -f /etc/apt/sources.list.d/synwatch-offline.list
dpkg-query -W synwatch
