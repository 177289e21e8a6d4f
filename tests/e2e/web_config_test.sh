#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The exporter-toolkit web config with real clients: curl over TLS, client
# certificates (a CA's, a stranger's, none), basic auth (htpasswd's bcrypt),
# security headers, live reloads (users, certificate, client policy; a broken
# file keeps the running one), a broken file at start, and a real Prometheus
# scraping over mutual TLS with basic auth. Certificates and hashes are made
# here, in the test's own directory. Bounded: about 60 s.
set -uo pipefail
BIN="$(realpath "${1:?usage: web_config_test.sh path/to/synwatch}")"
HERE="$(dirname "$(realpath "$0")")"
# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"

sandbox_up
PKI="$SW_TMP/pki"
mkdir -p "$PKI"
URL=https://127.0.0.1:9632

# --- certificates: a CA, the server, a client it signs, a stranger --------
newkey() { # newkey NAME SUBJECT: an EC key and a CSR
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=$2" -keyout "$PKI/$1.key" -out "$PKI/$1.csr" 2>/dev/null
}
sign() { # sign NAME CA EXTENSIONS
  printf '%s\n' "$3" >"$PKI/$1.ext"
  openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/$2.pem" -CAkey "$PKI/$2.key" \
    -CAcreateserial -days 2 -extfile "$PKI/$1.ext" -out "$PKI/$1.pem" 2>/dev/null
}
ca() { # ca NAME SUBJECT
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=$2" -keyout "$PKI/$1.key" -out "$PKI/$1.pem" \
    -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
ca ca "synwatch test CA"
ca rogue "synwatch test CA" # same name, other key: must not pass for it
newkey server localhost
sign server ca "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:192.0.2.1
extendedKeyUsage=serverAuth"
newkey client prometheus
sign client ca "extendedKeyUsage=clientAuth"
newkey stranger prometheus
sign stranger rogue "extendedKeyUsage=clientAuth"
check "openssl made the certificates" test -s "$PKI/server.pem" -a -s "$PKI/client.pem" -a -s "$PKI/stranger.pem"

# bcrypt hashes as Apache's htpasswd writes them ("$2y$05$...").
hash() { htpasswd -nbB -C 5 "$1" "$2" | cut -d: -f2-; }
ALICE="$(hash alice wonderland)"
BOB="$(hash bob builder)"
# shellcheck disable=SC2016 # a literal "$2y$05$"
check "htpasswd made bcrypt hashes" grep -q '^\$2y\$05\$' <<<"$ALICE"

web_config() { # web_config [CLIENT_AUTH_LINES] USERS...: writes web.yml
  local auth="$1"
  shift
  {
    printf 'tls_server_config:\n  cert_file: pki/server.pem\n  key_file: pki/server.key\n'
    if [ -n "$auth" ]; then printf '%s\n' "$auth"; fi
    printf 'http_server_config:\n  headers:\n    X-Frame-Options: deny\n'
    printf '    Strict-Transport-Security: max-age=31536000\n'
    printf 'basic_auth_users:\n'
    local user
    for user in "$@"; do printf '  %s\n' "$user"; done
  } >"$SW_TMP/web.yml"
}
web_config "" "alice: '$ALICE'"
cat >"$SW_TMP/synwatch.toml" <<TOML
[web]
config_file = "$SW_TMP/web.yml"
[xdp]
interfaces = ["sw-srv"]
pin_path = ""
TOML

# code [CURL ARGS...]: the HTTP status of a request to $URL/metrics over TLS,
# 000 when there is no HTTP answer (TLS refused, connection closed).
code() {
  srv curl -sS -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$PKI/ca.pem" \
    "$@" "$URL/metrics" 2>/dev/null || true
}
headers() { srv curl -sS -o /dev/null -D - --max-time 5 --cacert "$PKI/ca.pem" "$@" "$URL/metrics"; }

# --- a broken web config at start: exit 1, one line -----------------------
printf 'tls_server_config:\n  cert_file: pki/server.pem\n  foo: bar\n' >"$SW_TMP/bad.yml"
err="$(srv timeout 20 "$BIN" --config "$SW_TMP/synwatch.toml" \
  --web.config.file "$SW_TMP/bad.yml" 2>&1 >/dev/null)"
check_eq "bad web config at start: exit status" "$?" 1
check_eq "bad web config at start: one line" "$(wc -l <<<"$err")" 1
check_eq "bad web config at start: file:line: key: reason" "$err" \
  "synwatch: $SW_TMP/bad.yml:3: tls_server_config.foo: unknown key"
err="$(srv "$BIN" --check-config --config "$SW_TMP/synwatch.toml" \
  --web.config.file "$SW_TMP/bad.yml" 2>&1)"
check_eq "--check-config names the web config error" "$?:$err" \
  "1:$SW_TMP/bad.yml:3: tls_server_config.foo: unknown key"

# --- TLS without libssl: exit 1, one line that says what is missing --------
# OpenSSL is loaded on first use (exporter/web/openssl_lazy.cc). A private
# mount namespace hides it from this one run.
libssl="$(realpath "$(ldconfig -p | awk '$1 == "libssl.so.3" && /x86-64/ {print $NF; exit}')")"
# shellcheck disable=SC2016 # expanded by the inner sh
err="$(srv unshare --mount sh -c 'mount --bind /dev/null "$1" && shift && exec timeout 20 "$@"' \
  _ "$libssl" "$BIN" --config "$SW_TMP/synwatch.toml" 2>&1 >/dev/null)"
check_eq "no libssl: exit status" "$?" 1
check "no libssl: one line names the library and the package ($err)" \
  grep -Eq '^synwatch: .*TLS and basic auth need libssl\.so\.3 \(package libssl3\)' <<<"$err"
check_eq "no libssl: nothing else on stderr" "$(grep -Evc '^[0-9]{4}-' <<<"$err")" 1

# --- TLS and basic auth ---------------------------------------------------
start_bg "$SW_SRV" "$SW_TMP/synwatch.log" "$BIN" --config "$SW_TMP/synwatch.toml"
SYNWATCH_PID="$LAST_PID"
ready() { test "$(srv curl -sS -o /dev/null -w '%{http_code}' --max-time 2 \
  --cacert "$PKI/ca.pem" -u alice:wonderland "$URL/-/ready")" = 200; }
if ! wait_until 20 ready; then
  log "synwatch did not become ready over TLS; its log:"
  cat "$SW_TMP/synwatch.log" >&2
  finish
  exit 1
fi
check "logs that TLS and basic auth are on" grep -q 'TLS is enabled, basic auth is on (1 users)' "$SW_TMP/synwatch.log"
check "OpenSSL loaded for TLS (libssl.so.3 mapped)" grep -q 'libssl\.so\.3' "/proc/$SYNWATCH_PID/maps"
check_eq "https with the right password" "$(code -u alice:wonderland)" 200
check "the metrics come over TLS" bash -c "ip netns exec $SW_SRV curl -fsS --cacert $PKI/ca.pem -u alice:wonderland $URL/metrics | grep -q '^synwatch_build_info'"
# Plain HTTP gets what Go's net/http answers it, and no metrics.
plain="$(srv curl -sS -o "$SW_TMP/plain" -w '%{http_code}' --max-time 5 http://127.0.0.1:9632/metrics)"
check_eq "plain HTTP gets 400" "$plain" 400
check "with Go's reason" grep -qx 'Client sent an HTTP request to an HTTPS server.' "$SW_TMP/plain"
check "a client that does not trust the CA refuses the server" bash -c "! ip netns exec $SW_SRV curl -sS --max-time 5 --cacert $PKI/rogue.pem $URL/metrics"
check_eq "wrong password" "$(code -u alice:wrong)" 401
check_eq "no password" "$(code)" 401
check_eq "unknown user" "$(code -u mallory:wonderland)" 401
hdr="$(headers)"
check "401 asks for Basic" grep -qi '^www-authenticate: Basic' <<<"$hdr"
check "headers on the 401 too" grep -qi '^x-frame-options: deny' <<<"$hdr"
hdr="$(headers -u alice:wonderland)"
check "X-Frame-Options header" grep -qi '^x-frame-options: deny' <<<"$hdr"
check "Strict-Transport-Security header" grep -qi '^strict-transport-security: max-age=31536000' <<<"$hdr"
check "health needs the password too" test "$(srv curl -sS -o /dev/null -w '%{http_code}' --cacert "$PKI/ca.pem" "$URL/-/healthy")" = 401
check "reachable over the veth with the certificate's IP" test "$(cli curl -sS -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$PKI/ca.pem" -u alice:wonderland https://192.0.2.1:9632/metrics)" = 200

# --- a real Prometheus: mutual TLS and basic auth -------------------------
mkdir -p "$SW_TMP/prom"
cat >"$SW_TMP/prom/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: synwatch
    scheme: https
    tls_config:
      ca_file: $PKI/ca.pem
      cert_file: $PKI/client.pem
      key_file: $PKI/client.key
    basic_auth:
      username: alice
      password: wonderland
    static_configs:
      - targets: ["127.0.0.1:9632"]
YAML
start_bg "$SW_SRV" "$SW_TMP/prometheus.log" prometheus \
  --config.file="$SW_TMP/prom/prometheus.yml" --storage.tsdb.path="$SW_TMP/prom/data" \
  --web.listen-address=127.0.0.1:19090
check "prometheus became ready" wait_until 30 srv curl -fsS http://127.0.0.1:19090/-/ready
query() { srv curl -fsS -G --data-urlencode "query=$1" http://127.0.0.1:19090/api/v1/query; }
up_is() { query 'up{job="synwatch"}' | grep -q "\"value\":\[[0-9.]*,\"$1\"\]"; }
check "prometheus scrapes over TLS with basic auth (up == 1)" wait_until 20 up_is 1
check "prometheus returns synwatch_build_info" bash -c "ip netns exec $SW_SRV curl -fsS -G --data-urlencode 'query=synwatch_build_info{job=\"synwatch\"}' http://127.0.0.1:19090/api/v1/query | grep -q '\"value\":\[[0-9.]*,\"1\"\]'"

reloads() { grep -cE 'Reloaded config|Reload failed' "$SW_TMP/synwatch.log"; }
reloads_above() { test "$(reloads)" -gt "$1"; } # counted anew at each try
reload() { # sends SIGHUP, waits for the outcome to be logged
  local before
  before="$(reloads)"
  kill -HUP "$SYNWATCH_PID"
  wait_until 10 reloads_above "$before"
}
serial() {
  srv openssl s_client -connect 127.0.0.1:9632 -CAfile "$PKI/ca.pem" </dev/null 2>/dev/null |
    openssl x509 -noout -serial 2>/dev/null
}

# --- SIGHUP: new users and a renewed certificate --------------------------
old_serial="$(serial)"
newkey server localhost
sign server ca "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:192.0.2.1
extendedKeyUsage=serverAuth"
web_config "" "bob: '$BOB'"
check "reload with new users" reload
check_eq "alice is gone" "$(code -u alice:wonderland)" 401
check_eq "bob is in" "$(code -u bob:builder)" 200
check "the renewed certificate is served" test -n "$old_serial" -a "$(serial)" != "$old_serial"
check "prometheus (alice) now gets 401 (up == 0)" wait_until 10 up_is 0

# --- SIGHUP with a broken file keeps the running web config ---------------
web_config "  client_auth_type: Sometimes" "alice: '$ALICE'"
failures="$(grep -c 'Reload failed' "$SW_TMP/synwatch.log")"
check "reload with a broken web config" reload
check_eq "one error line" "$(grep -c 'Reload failed' "$SW_TMP/synwatch.log")" $((failures + 1))
check "the error names file, line and key" grep -q "Reload failed, keeping the running config: $SW_TMP/web.yml:4: tls_server_config.client_auth_type: unknown client_auth_type \"Sometimes\"" "$SW_TMP/synwatch.log"
check_eq "bob is still in" "$(code -u bob:builder)" 200
check_eq "alice is still out" "$(code -u alice:wonderland)" 401
check "the failed reload shows in the metrics" bash -c "ip netns exec $SW_SRV curl -fsS --cacert $PKI/ca.pem -u bob:builder $URL/metrics | grep -q '^synwatch_config_last_reload_successful 0'"

# --- SIGHUP: mutual TLS (RequireAndVerifyClientCert) ----------------------
web_config "  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: $PKI/ca.pem" "alice: '$ALICE'" "bob: '$BOB'"
check "reload to mutual TLS" reload
check "reload logged as done" grep -q 'Reloaded config' "$SW_TMP/synwatch.log"
check_eq "good client certificate" "$(code -u bob:builder --cert "$PKI/client.pem" --key "$PKI/client.key")" 200
check_eq "stranger's certificate (same CA name, other key)" "$(code -u bob:builder --cert "$PKI/stranger.pem" --key "$PKI/stranger.key")" 000
check_eq "no client certificate" "$(code -u bob:builder)" 000
check_eq "good certificate, wrong password" "$(code -u bob:x --cert "$PKI/client.pem" --key "$PKI/client.key")" 401
check "prometheus scrapes again over mutual TLS (up == 1)" wait_until 20 up_is 1
res="$(query 'scrape_samples_scraped{job="synwatch"}')"
check "prometheus scraped samples" grep -q '"value":\[[0-9.]*,"[1-9][0-9]*"\]' <<<"$res"

stop_pid "$SYNWATCH_PID"
check_eq "synwatch exits cleanly" "$STOP_RC" 0
if [ "$SW_FAILURES" -gt 0 ]; then
  tail -n 30 "$SW_TMP/synwatch.log" >&2
  tail -n 10 "$SW_TMP/prometheus.log" >&2
fi
finish
