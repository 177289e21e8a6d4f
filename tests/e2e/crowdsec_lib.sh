# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# Debian's real crowdsec LAPI (1.4.6) for the CrowdSec e2e tests, sourced
# after lib.sh and sandbox_up: run in the server namespace on loopback,
# offline (-no-cs: no acquisition; no online_client, so no Central API), with
# its own config, database and log under $SW_TMP/crowdsec, ended by its PID.
#
#   lapi_setup PORT [TLS_YAML]   writes $CS/config.yaml; TLS_YAML, when
#                                given, is api.server.tls's body (indented
#                                six spaces) and the LAPI serves https only;
#                                sets LAPI_PORT and LAPI_URL (no final /)
#   lapi_cli ARGS...             cscli against it (output in $CS/cscli.log)
#   lapi_json ARGS...            cscli ARGS -o json, the JSON on stdout
#   start_lapi                   starts it, waits until it listens; LAPI_PID
#   lapi_logs                    what the LAPI wrote, for a failure
# LAPI_ADDR: the address it listens on (127.0.0.1; a test whose other hosts
# reach it from their own namespaces gives the server's address).
# LAPI_CURL: curl options for its health check (a CA for https).
# LAPI_ARGS: crowdsec's options (-no-cs; empty: the agent runs too, reading
# $CS/acquis.yaml with the parsers and scenarios under $CS).

for tool in crowdsec cscli; do
  if ! command -v "$tool" >/dev/null; then
    echo "crowdsec e2e: $tool is missing (scripts/deps.sh installs crowdsec)" >&2
    exit 1
  fi
done

CS="$SW_TMP/crowdsec"
LAPI_CURL=()
LAPI_ARGS=(-no-cs)
LAPI_URL=""
LAPI_ADDR="${LAPI_ADDR:-127.0.0.1}"

lapi_setup() {
  LAPI_PORT="$1"
  local tls="${2:-}" scheme=http
  [ -n "$tls" ] && scheme=https
  LAPI_URL="$scheme://$LAPI_ADDR:$LAPI_PORT"
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
YAML
  if [ -n "$tls" ]; then
    printf '    tls:\n%s\n' "$tls" >>"$CS/config.yaml"
  fi
  printf 'prometheus:\n  enabled: false\n' >>"$CS/config.yaml"
}

lapi_cli() { srv timeout 30 cscli -c "$CS/config.yaml" "$@" >>"$CS/cscli.log" 2>&1; }
lapi_json() { srv timeout 30 cscli -c "$CS/config.yaml" "$@" -o json 2>>"$CS/cscli.log"; }
lapi_logs() { cat "$CS/crowdsec.out" "$CS"/log/* >&2; }

start_lapi() {
  start_bg "$SW_SRV" "$CS/crowdsec.out" crowdsec -c "$CS/config.yaml" "${LAPI_ARGS[@]}"
  # shellcheck disable=SC2034,SC2153 # LAST_PID: lib.sh; LAPI_PID: the caller's
  LAPI_PID="$LAST_PID"
  wait_until 30 srv curl -fsS -o /dev/null "${LAPI_CURL[@]}" "$LAPI_URL/health" ||
    wait_until 5 srv bash -c "ss -Htln | grep -q ':$LAPI_PORT '"
}
