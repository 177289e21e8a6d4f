#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The CrowdSec bouncer authenticated by a TLS client certificate (cert_file,
# key_file, ca_file; no API key) against Debian's real crowdsec LAPI (1.4.6)
# serving https (api.server.tls: client_verification VerifyClientCertIfGiven,
# ca_cert_path, bouncers_allowed_ou), offline in the server namespace
# (crowdsec_lib.sh). The test makes its own PKI with openssl: a CA, the
# LAPI's certificate (IP 127.0.0.1), a bouncer certificate with OU
# bouncer-ou, one with another OU and one from another CA. A valid bouncer
# certificate gets decisions and a `cscli decisions add --ip` ban is enforced
# (a real connect() dropped, counted banned); the wrong OU, the other CA's
# client certificate and a LAPI certificate that ca_file did not sign are
# refused, each counted in synwatch_crowdsec_polls_total with a non-ok
# result and without one ok poll. Bounded: about 40 s.
set -uo pipefail
BIN="$(realpath "${1:?usage: crowdsec_mtls_test.sh path/to/synwatch}")"
HERE="$(dirname "$(realpath "$0")")"
# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"

sandbox_up
bpffs_up
start_listener 8080
# shellcheck source=tests/e2e/crowdsec_lib.sh
source "$HERE/crowdsec_lib.sh"

# --- the PKI ---------------------------------------------------------------
PKI="$SW_TMP/pki"
mkdir -p "$PKI"
ssl() { openssl "$@" >>"$PKI/openssl.log" 2>&1; }
# ca NAME: a self-signed CA, NAME.pem and NAME.key.
ca() {
  ssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -keyout "$PKI/$1.key" -out "$PKI/$1.pem" -subj "/CN=synwatch e2e $1" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
# leaf NAME CA SUBJECT EXTENSIONS...: NAME.pem and NAME.key, signed by CA.
leaf() {
  local name=$1 ca=$2 subj=$3
  shift 3
  ssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$PKI/$name.key" -out "$PKI/$name.csr" -subj "$subj" &&
    printf '%s\n' basicConstraints=CA:FALSE keyUsage=critical,digitalSignature "$@" >"$PKI/$name.ext" &&
    ssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$ca.pem" -CAkey "$PKI/$ca.key" \
      -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" -days 2 \
      -extfile "$PKI/$name.ext" -out "$PKI/$name.pem"
}
make_pki() {
  ca ca && ca other-ca &&
    leaf lapi ca "/CN=127.0.0.1" subjectAltName=IP:127.0.0.1 extendedKeyUsage=serverAuth &&
    leaf bouncer ca "/O=synwatch/OU=bouncer-ou/CN=synwatch-mtls" extendedKeyUsage=clientAuth &&
    leaf wrong-ou ca "/O=synwatch/OU=other-ou/CN=synwatch-wrong-ou" extendedKeyUsage=clientAuth &&
    leaf other-ca-bouncer other-ca "/O=synwatch/OU=bouncer-ou/CN=synwatch-other-ca" extendedKeyUsage=clientAuth
}
check "openssl: two CAs, the LAPI's and three client certificates" make_pki
check "the bouncer certificate verifies against the CA with OU bouncer-ou" bash -c \
  "openssl verify -CAfile '$PKI/ca.pem' -purpose sslclient '$PKI/bouncer.pem' &&
   openssl x509 -noout -subject -in '$PKI/bouncer.pem' | grep -q 'OU *= *bouncer-ou'"
check "the other CA's bouncer certificate does not" bash -c \
  "! openssl verify -CAfile '$PKI/ca.pem' '$PKI/other-ca-bouncer.pem'"
chmod 600 "$PKI"/*.key

# --- the LAPI over https ---------------------------------------------------
lapi_setup 18089 "      cert_file: $PKI/lapi.pem
      key_file: $PKI/lapi.key
      client_verification: VerifyClientCertIfGiven
      ca_cert_path: $PKI/ca.pem
      bouncers_allowed_ou: [bouncer-ou]
      agents_allowed_ou: [agent-ou]"
LAPI_CURL=(--cacert "$PKI/ca.pem")
check "cscli machines add" lapi_cli machines add synwatch-e2e --auto \
  --url "$LAPI_URL/" -f "$CS/local_api_credentials.yaml"
# cscli's own calls (decisions add) trust the test CA.
printf 'ca_cert_path: %s\n' "$PKI/ca.pem" >>"$CS/local_api_credentials.yaml"
start_lapi || { log "the LAPI did not start:"; cat "$CS/crowdsec.out" "$CS"/log/* >&2; finish; exit 1; }

stream="$LAPI_URL/v1/decisions/stream?startup=true"
as() { # as CERT: the LAPI's status for a stream request with that client certificate
  srv curl -s -o /dev/null -w '%{http_code}' --cacert "$PKI/ca.pem" \
    --cert "$PKI/$1.pem" --key "$PKI/$1.key" "$stream"
}
check_eq "the LAPI serves https with its certificate: no credentials, 403" \
  "$(srv curl -s -o /dev/null -w '%{http_code}' --cacert "$PKI/ca.pem" "$stream")" 403
check_eq "the LAPI: the bouncer certificate, 200" "$(as bouncer)" 200
check_eq "the LAPI: another OU, 403" "$(as wrong-ou)" 403
check_eq "the LAPI: the other CA's certificate, no HTTP answer (handshake refused)" "$(as other-ca-bouncer)" 000
check "the LAPI registered the certificate's bouncer" bash -c \
  "ip netns exec $SW_SRV cscli -c '$CS/config.yaml' bouncers list -o json 2>/dev/null |
   jq -e 'any(.[]; (.name | startswith(\"synwatch-mtls@\")) and .auth_type == \"tls\")' >/dev/null"

# --- synwatch with each certificate -----------------------------------------
# sw_config CERT CA_FILE: the bouncer with CERT.pem/CERT.key, trusting CA_FILE.pem.
sw_config() {
  cat >"$SW_TMP/synwatch.toml" <<TOML
[xdp]
interfaces = ["sw-srv"]
pin_path = "$SW_BPFFS/synwatch"
[rules]
dry_run = false
[port_scan]
enabled = false
[crowdsec]
enabled = true
lapi_url = "$LAPI_URL/"
cert_file = "$PKI/$1.pem"
key_file = "$PKI/$1.key"
ca_file = "$PKI/$2.pem"
update_interval = "1s"
TOML
}
polls() { metric "$(scrape)" synwatch_crowdsec_polls_total "result=\"$1\""; }
# polls_reach RESULT: a poll with that result is counted (within 10 s).
polls_reach() { wait_until 10 bash -c "ip netns exec $SW_SRV curl -fsS http://127.0.0.1:9632/metrics | grep -q '^synwatch_crowdsec_polls_total{result=\"$1\"} [1-9]'"; }
no_ok_poll() { local n; n="$(polls ok)"; [ "$n" = absent ] || [ "$n" = 0 ]; }

sw_config bouncer ca
check "--check-config accepts a client certificate without an API key" srv "$BIN" --check-config --config "$SW_TMP/synwatch.toml"
start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { finish; exit 1; }
check "the bouncer certificate: polls succeed" polls_reach ok
check "decisions add --ip" lapi_cli decisions add --ip 192.0.2.11 --duration 1h
check "the ban reaches synwatch" wait_until 10 bash -c \
  "[ \"\$(ip netns exec $SW_SRV curl -fsS http://127.0.0.1:9632/metrics | grep -E '^synwatch_crowdsec_prefixes ' | cut -d' ' -f2)\" = 1 ]"
connect_from 192.0.2.11 192.0.2.1 8080
check_eq "a banned address cannot connect" "$?" 1
connect_from 192.0.2.12 192.0.2.1 8080
check_eq "another address connects" "$?" 0
text="$(scrape)"
check "its SYNs counted as banned" test \
  "$(metric "$text" synwatch_peer_syn_packets_total 'interface="sw-srv",peer="192.0.2.11",outcome="banned",action="drop"')" -ge 1
no_failed_poll() { ! grep -qE '^synwatch_crowdsec_polls_total\{result="(transport_error|http_error)"\} [1-9]' <<<"$text"; }
check "no transport or HTTP errors with the right certificate" no_failed_poll
stop_pid "$SYNWATCH_PID"
check_eq "exit status" "$STOP_RC" 0

# refused NAME CERT CA RESULT: synwatch with CERT trusting CA polls, and every
# poll ends in RESULT, none ok.
refused() {
  local what=$1
  sw_config "$2" "$3"
  start_synwatch "$BIN" "$SW_TMP/synwatch.toml" || { SW_FAILURES=$((SW_FAILURES + 1)); return; }
  check "$what: polls counted as $4" polls_reach "$4"
  check "$what: not one ok poll" no_ok_poll
  stop_pid "$SYNWATCH_PID"
  check_eq "$what: exit status" "$STOP_RC" 0
}
refused "certificate with OU other-ou" wrong-ou ca http_error
check "... logged: the LAPI answered 403" grep -q 'LAPI answered HTTP 403' "$SW_TMP/synwatch.log"
refused "client certificate from another CA" other-ca-bouncer ca transport_error
refused "LAPI certificate not signed by ca_file" bouncer other-ca transport_error
check "... synwatch logged the certificate problem" grep -qi 'certificate' "$SW_TMP/synwatch.log"

# ca_file is the only CA trusted: not also libcurl's built-in CA directory
# (Debian's /etc/ssl/certs). synwatch runs in a mount namespace of its own
# where that directory holds the LAPI's CA, and ca_file names the other CA.
mkdir -p "$PKI/capath"
cp "$PKI/ca.pem" "$PKI/capath/"
check "openssl rehash of a CA directory with the LAPI's CA" ssl rehash "$PKI/capath"
cat >"$SW_TMP/synwatch-capath.sh" <<SH
#!/bin/bash
exec unshare -m --propagation private bash -c 'mount --bind "$PKI/capath" /etc/ssl/certs && exec "\$0" "\$@"' "$BIN" "\$@"
SH
chmod +x "$SW_TMP/synwatch-capath.sh"
check "there, curl --cacert of the other CA still trusts the LAPI (libcurl's CA directory)" \
  srv unshare -m --propagation private bash -c "mount --bind '$PKI/capath' /etc/ssl/certs &&
    curl -fsS -o /dev/null --cacert '$PKI/other-ca.pem' --cert '$PKI/bouncer.pem' --key '$PKI/bouncer.key' '$stream'"
real_bin="$BIN"
BIN="$SW_TMP/synwatch-capath.sh"
refused "LAPI CA in the system CA directory, not in ca_file" bouncer other-ca transport_error
BIN="$real_bin"

stop_pid "$LAPI_PID"
finish
