#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Checks the monitoring mixin and what the build rendered from it:
#   jsonnetfmt, promtool check rules, promtool test rules (every alert with a
#   firing and a non-firing case, every recording rule with a promql_expr_test),
#   every dashboard query parsed by promtool, and the copies the Puppet module
#   ships equal to the rendered rules.
# usage: ops/mixin/check.sh RENDERED_DIR   (the build's ops/ directory)
set -uo pipefail
here="$(dirname "$(realpath "$0")")"
repo="$(realpath "$here/../..")"
rendered="$(realpath "${1:?usage: check.sh RENDERED_DIR}")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0
ok() { echo "ok: $*"; }
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

cd "$here" || exit 1
mapfile -t sources < <(find . -name '*.jsonnet' -o -name '*.libsonnet' | sort)
unformatted=()
for f in "${sources[@]}"; do
  jsonnetfmt --test "$f" || unformatted+=("$f")
done
if [ "${#unformatted[@]}" -eq 0 ]; then ok "jsonnetfmt (${#sources[@]} files)"; else fail "jsonnetfmt -i ${unformatted[*]}"; fi

if promtool check rules "$rendered/synwatch-alerts.yml" "$rendered/synwatch-rules.yml" >"$work/check.log" 2>&1; then
  ok "promtool check rules: $(grep -o 'SUCCESS: [0-9]* rules found' "$work/check.log" | paste -sd ' ' -)"
else
  cat "$work/check.log"
  fail "promtool check rules"
fi

# The tests run against the rendered files, copied next to them.
cp "$rendered/synwatch-alerts.yml" "$rendered/synwatch-rules.yml" "$work/"
jsonnet -S -e "std.manifestYamlDoc(import '$here/tests/rules_test.jsonnet', indent_array_in_object=true, quote_keys=false)" \
  >"$work/rules_test.yml" || fail "render tests/rules_test.jsonnet"
jsonnet -e "import '$here/tests/rules_test.jsonnet'" >"$work/tests.json"
# (the mixin's fields are hidden, ::, so they are named here to be output)
jsonnet -e "local m = import '$here/mixin.libsonnet'; { prometheusAlerts: m.prometheusAlerts, prometheusRules: m.prometheusRules }" >"$work/mixin.json"

# Coverage: every alert fires in some case and stays quiet in another; every
# recording rule is evaluated by some promql_expr_test.
missing="$(jq -er --slurpfile t "$work/tests.json" '
  [.prometheusAlerts.groups[].rules[].alert] as $alerts
  | [$t[0].tests[].alert_rule_test[]] as $cases
  | ($alerts[] | . as $a
      | (if any($cases[]; .alertname == $a and (.exp_alerts | length) > 0) then empty else "\($a): no firing case" end),
        (if any($cases[]; .alertname == $a and (.exp_alerts | length) == 0) then empty else "\($a): no non-firing case" end)),
    ([.prometheusRules.groups[].rules[].record] | unique[] | . as $r
      | if any($t[0].tests[].promql_expr_test[]; .expr | startswith($r)) then empty else "\($r): no promql_expr_test" end)
' "$work/mixin.json")"
coverage_rc=$?
alerts="$(jq '[.prometheusAlerts.groups[].rules[]] | length' "$work/mixin.json")"
records="$(jq '[.prometheusRules.groups[].rules[].record] | unique | length' "$work/mixin.json")"
# jq -e exits 4 when it printed nothing: every rule is covered.
if [ "$coverage_rc" -eq 4 ] && [ -z "$missing" ] && [ "${alerts:-0}" -gt 0 ] && [ "${records:-0}" -gt 0 ]; then
  ok "every one of $alerts alerts has a firing and a non-firing case, every one of $records recorded names a promql_expr_test"
else
  echo "$missing"
  fail "test coverage"
fi

if (cd "$work" && promtool test rules rules_test.yml) >"$work/test.log" 2>&1; then
  ok "promtool test rules: $(jq '[.tests[].alert_rule_test[]] | length' "$work/tests.json") alert cases, $(jq '[.tests[].promql_expr_test[]] | length' "$work/tests.json") expression cases: $(grep -o 'SUCCESS' "$work/test.log")"
else
  cat "$work/test.log"
  fail "promtool test rules"
fi

# Every dashboard query, with its variables filled in, must parse: promtool
# checks them as the expressions of recording rules.
queries="$work/queries.txt"
bash "$here/dashboard_queries.sh" "$rendered" synwatch 'host' >"$queries" || fail "dashboard queries"
jq -Rn '{groups: [{name: "dashboards", rules: [inputs | {record: "dashboard:query", expr: .}]}]}' <"$queries" >"$work/dash_rules.json"
if promtool check rules "$work/dash_rules.json" >"$work/dash.log" 2>&1; then
  ok "$(wc -l <"$queries") dashboard queries parse"
else
  cat "$work/dash.log"
  fail "dashboard queries parse"
fi
for d in "$rendered"/synwatch-*.json; do
  if jq -e '(.panels | length) > 0 and ([.panels[].id] | length == (unique | length)) and all(.panels[]; (.targets | length) > 0)' "$d" >/dev/null; then
    ok "$(basename "$d"): $(jq '.panels | length' "$d") panels, ids unique, each with a query"
  else
    fail "$(basename "$d") is not a well-formed dashboard"
  fi
done

# The Puppet module ships copies of the rendered rules.
for f in synwatch-alerts.yml synwatch-rules.yml; do
  if cmp -s "$rendered/$f" "$repo/puppet/files/prometheus/$f"; then
    ok "puppet/files/prometheus/$f is the rendered $f"
  else
    fail "puppet/files/prometheus/$f differs from the rendered one: cp $rendered/$f $repo/puppet/files/prometheus/"
  fi
done

echo "ops mixin: $failures failed"
[ "$failures" -eq 0 ]
