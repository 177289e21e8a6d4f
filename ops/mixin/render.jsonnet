// SPDX-License-Identifier: Apache-2.0
// What the build writes (jsonnet -S -m DIR render.jsonnet):
//   synwatch-alerts.yml   alerting rules
//   synwatch-rules.yml    recording rules
//   synwatch-*.json       Grafana dashboards
local mixin = import 'mixin.libsonnet';
local header = '# Generated from ops/mixin by the build; do not edit.\n';
local yaml(x) = header + std.manifestYamlDoc(x, indent_array_in_object=true, quote_keys=false) + '\n';
{
  'synwatch-alerts.yml': yaml(mixin.prometheusAlerts),
  'synwatch-rules.yml': yaml(mixin.prometheusRules),
} + {
  [name]: std.manifestJsonEx(mixin.grafanaDashboards[name], '  ') + '\n'
  for name in std.objectFields(mixin.grafanaDashboards)
}
