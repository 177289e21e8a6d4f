#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Debian's real crowdsec LAPI (1.4.6) for the end-to-end tests, sourced after
# lib.sh and sandbox_up: run in the server namespace, offline (-no-cs: no
# acquisition, no online_client, so no Central API), with its own config,
# SQLite database and port under $SW_TMP, ended by its PID. Uses the
# packaged /etc/crowdsec/profiles.yaml (the default profile: a 4 h ban for
# an alert with remediation and scope Ip).

# lapi_setup LISTEN_ADDR PORT: writes $CS/config.yaml; sets CS, LAPI_ADDR,
# LAPI_PORT, LAPI_URL.
lapi_setup() {
  local tool
  for tool in crowdsec cscli; do
    if ! command -v "$tool" >/dev/null; then
      echo "$tool is missing (scripts/deps.sh installs crowdsec)" >&2
      return 1
    fi
  done
  LAPI_ADDR="$1"
  LAPI_PORT="$2"
  LAPI_URL="http://$LAPI_ADDR:$LAPI_PORT/"
  CS="$SW_TMP/crowdsec"
  mkdir -p "$CS/data" "$CS/log"
  cat >"$CS/config.yaml" <<YAML
common:
  daemonize: false
  log_media: file
  log_level: info
  log_dir: $CS/log/
  working_dir: .
config_paths:
  config_dir: $CS/
  data_dir: $CS/data/
  simulation_path: /etc/crowdsec/simulation.yaml
  hub_dir: /var/lib/crowdsec/hub/
  index_path: /var/lib/crowdsec/hub/.index.json
  notification_dir: $CS/notifications/
  plugin_dir: /usr/lib/crowdsec/plugins/
crowdsec_service:
  acquisition_path: $CS/acquis.yaml
db_config:
  log_level: info
  type: sqlite
  db_path: $CS/data/crowdsec.db
api:
  client:
    credentials_path: $CS/local_api_credentials.yaml
  server:
    log_level: info
    listen_uri: $LAPI_ADDR:$LAPI_PORT
    profiles_path: /etc/crowdsec/profiles.yaml
    trusted_ips: [127.0.0.1, "::1"]
prometheus:
  enabled: false
YAML
}

# lapi_cli ARGS...: cscli against the test's LAPI, its output in cscli.log.
lapi_cli() { srv timeout 30 cscli -c "$CS/config.yaml" "$@" >>"$CS/cscli.log" 2>&1; }

# lapi_json ARGS...: cscli ... -o json, the JSON on stdout.
lapi_json() { srv timeout 30 cscli -c "$CS/config.yaml" "$@" -o json 2>>"$CS/cscli.log"; }

# start_lapi: starts it, waits until it answers; sets LAPI_PID.
start_lapi() {
  start_bg "$SW_SRV" "$CS/crowdsec.out" crowdsec -c "$CS/config.yaml" -no-cs
  # shellcheck disable=SC2034,SC2153 # LAST_PID from lib.sh; read by the caller
  LAPI_PID="$LAST_PID"
  wait_until 30 srv curl -fsS -o /dev/null "${LAPI_URL}health" ||
    wait_until 5 srv bash -c "ss -Htln | grep -q ':$LAPI_PORT '"
}

# lapi_logs: what the LAPI wrote, for a failure.
lapi_logs() { cat "$CS/crowdsec.out" "$CS"/log/* >&2; }
