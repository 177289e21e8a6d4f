// SPDX-License-Identifier: Apache-2.0
// The synwatch monitoring mixin: alerts, recording rules and dashboards.
(import 'config.libsonnet') +
(import 'alerts.libsonnet') +
(import 'rules.libsonnet') +
(import 'dashboards.libsonnet')
