#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The CrowdSec parser and scenario shipped in /usr/share/synwatch/crowdsec
# (part of `make test`, no privileges): `cscli hubtest` of Debian's crowdsec
# (1.4.6) runs the tests in .tests/ (the hub's own format: config.yaml, a log
# file, parser.assert or scenario.assert) through the real crowdsec agent in
# replay mode, offline. hubtest wants a hub (a directory with .index.json
# and the items in <type>/<stage>/<author>/), so this builds one in a temp
# dir: Debian's hub, linked, plus these items and their index entries.
# A test with a wrong assertion must fail, and is run to show it does.
#
# usage: ops/crowdsec/check.sh   Output ends with `N passed, N failed`.
# VERBOSE=1 prints hubtest's output (on a missing assert file, the assertions
# it would generate); KEEP=1 keeps the temp hub.
set -uo pipefail
HERE="$(dirname "$(realpath "$0")")"
DEBIAN_HUB=${CROWDSEC_HUB:-/usr/share/crowdsec/hub}
for tool in crowdsec cscli jq; do
  command -v "$tool" >/dev/null || { echo "crowdsec check: $tool is missing (scripts/deps.sh installs it)" >&2; exit 1; }
done
[ -f "$DEBIAN_HUB/.index.json" ] || { echo "crowdsec check: no hub in $DEBIAN_HUB" >&2; exit 1; }

passed=0
failed=0
check() {
  local what=$1
  shift
  if "$@"; then
    echo "ok: $what"
    passed=$((passed + 1))
  else
    echo "FAIL: $what"
    failed=$((failed + 1))
  fi
}

HUB="$(mktemp -d /tmp/synwatch-hubtest.XXXXXX)"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$HUB"' EXIT
cp -rs "$DEBIAN_HUB/." "$HUB/"
rm -f "$HUB/.index.json"

# add_item TYPE NAME STAGE SOURCE: the item in the hub and in its index.
index="$(cat "$DEBIAN_HUB/.index.json")"
add_item() {
  local type=$1 name=$2 stage=$3 src=$4 path
  if [ -n "$stage" ]; then
    path="$type/$stage/$name.yaml"
  else
    path="$type/$name.yaml"
  fi
  mkdir -p "$HUB/$(dirname "$path")"
  cp "$src" "$HUB/$path"
  index="$(jq --arg t "$type" --arg n "$name" --arg p "$path" --arg s "$stage" \
    --arg d "$(sha256sum "$src" | cut -d' ' -f1)" --arg c "$(base64 -w0 "$src")" \
    '.[$t][$n] = ({path: $p, version: "0.1", versions: {"0.1": {digest: $d, deprecated: false}},
       content: $c, author: "synwatch", description: $n, labels: null, references: null}
       + (if $s == "" then {} else {stage: $s} end))' <<<"$index")"
}
add_item parsers synwatch/synwatch-logs s01-parse "$HERE/parsers/s01-parse/synwatch-logs.yaml"
add_item scenarios synwatch/port-scan "" "$HERE/scenarios/synwatch-port-scan.yaml"
printf '%s\n' "$index" >"$HUB/.index.json"

# hubtest's runtime config: the hub's template, without the Prometheus
# listener (no port taken) and with Debian's plugin directory.
mkdir -p "$HUB/.tests"
cat >"$HUB/.tests/template_config.yaml" <<'YAML'
common:
  daemonize: false
  log_media: file
  log_level: info
  log_dir: ./runtime/log/
  working_dir: .
config_paths:
  config_dir: ./runtime/
  data_dir: ./runtime/data/
  simulation_path: ./runtime/simulation.yaml
  hub_dir: ./runtime/hub/
  index_path: ./runtime/hub/.index.json
  notification_dir: ./runtime/notifications/
  plugin_dir: /usr/lib/crowdsec/plugins/
crowdsec_service:
  parser_routines: 1
cscli:
  output: human
db_config:
  log_level: info
  type: sqlite
  db_path: ./runtime/data/crowdsec.db
api:
  client:
    credentials_path: ./runtime/local_api_credentials.yaml
  server:
    log_level: info
    listen_uri: 127.0.0.1:8181
    profiles_path: ./runtime/profiles.yaml
prometheus:
  enabled: false
YAML
cp /etc/crowdsec/profiles.yaml "$HUB/.tests/template_profiles.yaml"
printf 'simulation: off\n' >"$HUB/.tests/template_simulation.yaml"
cp -r "$HERE/.tests/." "$HUB/.tests/"

cd "$HUB" || exit 1
run() { # run TEST: hubtest's verdict on one test, its output kept
  timeout 120 cscli -c "$HUB/.tests/template_config.yaml" hubtest --hub "$HUB" run --clean "$1" >"$HUB/$1.out" 2>&1
}
for t in "$HERE"/.tests/*/; do
  t="$(basename "$t")"
  check "hubtest $t" run "$t"
  [ -n "${VERBOSE:-}" ] && sed "s/^/  | /" "$HUB/$t.out"
done

# The same log with the alert expected from the line that is not
# synwatch's (sshd's): hubtest must say no.
cp -r "$HUB/.tests/synwatch-port-scan" "$HUB/.tests/synwatch-port-scan-wrong"
sed -i 's/192\.0\.2\.14/198.51.100.13/g' "$HUB/.tests/synwatch-port-scan-wrong/scenario.assert"
fails() { ! run "$1" && grep -q "198.51.100.13" "$HUB/$1.out"; }
check "hubtest fails an alert expected from another program's line" fails synwatch-port-scan-wrong

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
