// SPDX-License-Identifier: Apache-2.0
// promtool unit tests of every alert (firing and not firing) and every
// recording rule, rendered next to the rules by the build and run by
// `promtool test rules` (ops/mixin/check.sh, in `make test`). check.sh also
// fails when an alert lacks a firing or a non-firing case, or a recording
// rule has no promql_expr_test.
local mixin = import '../mixin.libsonnet';
local c = mixin._config;
local alerts = { [r.alert]: r for g in mixin.prometheusAlerts.groups for r in g.rules };

local job = { job: 'synwatch' };
local series(name, labels, values) = {
  series: '%s{%s}' % [name, std.join(', ', ['%s="%s"' % [k, (job + labels)[k]] for k in std.objectFields(job + labels)])],
  values: values,
};
local fires(name, labels, summary, description) = {
  exp_labels: job + labels + { severity: alerts[name].labels.severity },
  exp_annotations: {
    summary: summary,
    description: description,
    runbook_url: alerts[name].annotations.runbook_url,
  },
};
local at(time, name, expected) = { eval_time: time, alertname: name, exp_alerts: expected };
// Every expr here is a selector: its samples carry the metric's name.
local labelString(name, labels) =
  '%s{%s}' % [name, std.join(', ', ['%s="%s"' % [k, labels[k]] for k in std.objectFields(labels)])];
local value(time, expr, samples) = {
  eval_time: time,
  expr: expr,
  exp_samples: [
    { labels: labelString(std.split(expr, '{')[0], s[0]), value: s[1] }
    for s in samples
  ],
};
local test(name, input, alertTests, exprTests=[]) = {
  name: name,
  interval: '1m',
  input_series: input,
  alert_rule_test: alertTests,
  promql_expr_test: exprTests,
};

// Fleet scan: 30 hosts that peer .7 reaches with one SYN each (a new series,
// already at 1), 26 hosts where .9's series grows until 15m, 20 hosts for
// .8, and a peer whose series on 30 hosts is old and idle. At 25m every
// series is older than the window and none grew in it: no scanner.
local hosts(n) = ['host%02d' % i for i in std.range(1, n)];
local fleetInput =
  [series('synwatch_peer_syn_packets_total', { instance: h, interface: 'eth0', peer: '203.0.113.7', outcome: 'unmatched', action: 'pass' }, '_x10 1x20') for h in hosts(30)] +
  [series('synwatch_peer_syn_packets_total', { instance: h, interface: 'eth0', peer: '203.0.113.9', outcome: 'unmatched', action: 'pass' }, '1+1x15 16x15') for h in hosts(26)] +
  [series('synwatch_peer_syn_packets_total', { instance: h, interface: 'eth0', peer: '203.0.113.8', outcome: 'unmatched', action: 'pass' }, '_x10 1x20') for h in hosts(20)] +
  [series('synwatch_peer_syn_packets_total', { instance: h, interface: 'eth0', peer: '198.51.100.9', outcome: 'unmatched', action: 'pass' }, '3x30') for h in hosts(30)];

{
  rule_files: ['synwatch-rules.yml', 'synwatch-alerts.yml'],
  evaluation_interval: '1m',
  // Recording rules before the rules that read them, as they are listed.
  // Without an order promtool evaluates groups in Go's random map order, so
  // an alert would see a recorded series one evaluation late in some runs.
  group_eval_order: [g.name for g in mixin.prometheusRules.groups + mixin.prometheusAlerts.groups],
  tests: [
    test('exporter down', [
      series('up', { instance: 'a' }, '1x20'),
      series('up', { instance: 'b' }, '1 1 1 0x20'),
    ], [
      at('5m', 'SynwatchDown', []),
      at('10m', 'SynwatchDown', [fires('SynwatchDown', { instance: 'b' }, 'synwatch on b is not answering scrapes', 'Prometheus has not scraped synwatch on b for 5m. Its pinned XDP program may still count and drop, but nobody sees it.')]),
    ]),

    test('interfaces: detached, generic mode', [
      series('synwatch_xdp_attached', { instance: 'a', interface: 'eth0', mode: 'native' }, '1x40'),
      series('synwatch_xdp_attached', { instance: 'b', interface: 'eth1', mode: 'native' }, '1 1 0x40'),
      series('synwatch_xdp_attached', { instance: 'c', interface: 'eth0', mode: 'generic' }, '1x40'),
    ], [
      at('4m', 'SynwatchInterfaceDetached', []),
      at('10m', 'SynwatchInterfaceDetached', [fires('SynwatchInterfaceDetached', { instance: 'b', interface: 'eth1', mode: 'native' }, 'synwatch is not attached to eth1 on b', 'The XDP program is not on eth1: SYNs there are neither counted nor judged (deny rules and port-scan blocks do not apply).')]),
      at('20m', 'SynwatchGenericMode', []),
      at('35m', 'SynwatchGenericMode', [fires('SynwatchGenericMode', { instance: 'c', interface: 'eth0', mode: 'generic' }, 'synwatch runs in generic XDP mode on eth0 on c', 'The XDP program on eth0 is attached in generic (skb) mode: it works, at several times the cost per packet of native mode, and a SYN flood costs the host more.')]),
    ], [
      value('10m', 'job_mode:synwatch_xdp_attached:sum', [[job { mode: 'native' }, 1], [job { mode: 'generic' }, 1]]),
      value('10m', 'job:synwatch_xdp_detached:sum', [[job, 1]]),
      value('1m', 'job:synwatch_xdp_detached:sum', [[job, 0]]),
    ]),

    test('reload failed', [
      series('synwatch_config_last_reload_successful', { instance: 'a' }, '1 1 1 0 0 0 0 1 1'),
    ], [
      at('3m', 'SynwatchReloadFailed', []),
      at('5m', 'SynwatchReloadFailed', [fires('SynwatchReloadFailed', { instance: 'a' }, 'synwatch on a refused its new config', 'The last reload (SIGHUP) of synwatch on a failed: it still runs the previous config, not the one on disk.')]),
      at('8m', 'SynwatchReloadFailed', []),
    ]),

    test('scrape errors and slow scrapes', [
      series('synwatch_scrape_errors_total', { instance: 'a' }, '0x10 1x30'),
      series('synwatch_scrape_duration_seconds', { instance: 'a' }, '0.05x30'),
      series('scrape_duration_seconds', { instance: 'a' }, '0.1x30'),
      series('synwatch_scrape_duration_seconds', { instance: 'b' }, '3x30'),
      // c: the map read is fast, the scrape as Prometheus timed it is not.
      series('synwatch_scrape_duration_seconds', { instance: 'c' }, '0.05x30'),
      series('scrape_duration_seconds', { instance: 'c' }, '4x30'),
    ], [
      at('5m', 'SynwatchScrapeErrors', []),
      at('12m', 'SynwatchScrapeErrors', [fires('SynwatchScrapeErrors', { instance: 'a' }, 'synwatch on a failed to read BPF maps', 'Map reads failed in the last 10 minutes (1): scrapes answered with what could be read, so some series were missing.')]),
      at('30m', 'SynwatchScrapeErrors', []),
      at('5m', 'SynwatchScrapeSlow', []),
      at('25m', 'SynwatchScrapeSlow', [
        fires('SynwatchScrapeSlow', { instance: 'b' }, 'Scrapes of synwatch on b are slow', 'Scrapes took 3s on average over 10 minutes (threshold 2s): close to scrape timeouts.'),
        fires('SynwatchScrapeSlow', { instance: 'c' }, 'Scrapes of synwatch on c are slow', 'Scrapes took 4s on average over 10 minutes (threshold 2s): close to scrape timeouts.'),
      ]),
    ]),

    test('tables: near full and evicting', [
      series('synwatch_peer_table_entries', { instance: 'a' }, '65000x40'),
      series('synwatch_peer_table_capacity', { instance: 'a' }, '65536x40'),
      series('synwatch_port_scan_table_entries', { instance: 'a', table: 'track' }, '100x40'),
      series('synwatch_port_scan_table_capacity', { instance: 'a', table: 'track' }, '8192x40'),
      series('synwatch_port_scan_table_capacity', { instance: 'a', table: 'block' }, '16384x40'),
      series('synwatch_blocked_peers', { instance: 'a' }, '15000x40'),
      series('synwatch_peer_table_evictions_total', { instance: 'a' }, '0+60x40'),
      series('synwatch_port_scan_track_evictions_total', { instance: 'a' }, '0x40'),
      series('synwatch_peer_table_entries', { instance: 'b' }, '1000x40'),
      series('synwatch_peer_table_capacity', { instance: 'b' }, '65536x40'),
    ], [
      at('10m', 'SynwatchTableNearFull', []),
      at('20m', 'SynwatchTableNearFull', [
        fires('SynwatchTableNearFull', { instance: 'a', table: 'peer' }, 'synwatch table peer on a is 99.18% full', 'The peer table is near its capacity: past it the least recently seen entries are pushed out (peer series end, tracked scanners are forgotten, or blocks in force are lost).'),
        fires('SynwatchTableNearFull', { instance: 'a', table: 'block' }, 'synwatch table block on a is 91.55% full', 'The block table is near its capacity: past it the least recently seen entries are pushed out (peer series end, tracked scanners are forgotten, or blocks in force are lost).'),
      ]),
      at('10m', 'SynwatchTableEvicting', []),
      at('25m', 'SynwatchTableEvicting', [fires('SynwatchTableEvicting', { instance: 'a', table: 'peer' }, 'synwatch evicts from its peer table on a', 'The full peer table pushes entries out (1/s): per-peer series end early (peer) or scanners are forgotten before they reach the port limit (track).')]),
    ], [
      value('20m', 'instance_table:synwatch_table_fill:ratio', [
        [job { instance: 'a', table: 'peer' }, 65000 / 65536],
        [job { instance: 'a', table: 'track' }, 100 / 8192],
        [job { instance: 'a', table: 'block' }, 15000 / 16384],
        [job { instance: 'b', table: 'peer' }, 1000 / 65536],
      ]),
      value('20m', 'instance_table:synwatch_table_evictions:rate5m', [
        [job { instance: 'a', table: 'peer' }, 1],
        [job { instance: 'a', table: 'track' }, 0],
      ]),
    ]),

    test('events lost', [
      series('synwatch_events_dropped_total', { instance: 'a', reason: 'ring_full' }, '0 0 0 5x20'),
      series('synwatch_events_dropped_total', { instance: 'a', reason: 'rate_limit' }, '0+120x20'),
    ], [
      at('12m', 'SynwatchEventsLost', [fires('SynwatchEventsLost', { instance: 'a', reason: 'ring_full' }, 'synwatch on a lost events to a full ring buffer', '5 connection-log or port-scan events were lost in the last 10 minutes: the ring buffer was full.')]),
      at('20m', 'SynwatchEventsLost', []),
    ], [
      value('20m', 'instance_reason:synwatch_events_dropped:rate5m', [
        [job { instance: 'a', reason: 'ring_full' }, 0],
        [job { instance: 'a', reason: 'rate_limit' }, 2],
      ]),
    ]),

    // a: 10 SYN/s for a day, then 1,000/s. b: 2,048/s all along, its
    // normal: above the floor, but not above its own baseline.
    test('SYN flood against the host baseline', [
      series('synwatch_syn_packets_total', { instance: 'a', interface: 'eth0', outcome: 'unmatched', action: 'pass' }, '0+600x1440 864000+60000x20'),
      series('synwatch_syn_packets_total', { instance: 'b', interface: 'eth0', outcome: 'unmatched', action: 'pass' }, '0+122880x1460'),
    ], [
      at('1440m', 'SynwatchSynFlood', []),
      at('1456m', 'SynwatchSynFlood', [fires('SynwatchSynFlood', { instance: 'a' }, 'SYN flood on a: 1k SYN/s', "SYNs arrive far above this host's own 1d baseline (3 x average + 4 standard deviations, and more than 100/s).")]),
    ], [
      value('30m', 'instance_outcome_action:synwatch_syn_packets:rate5m', [
        [job { instance: 'a', outcome: 'unmatched', action: 'pass' }, 10],
        [job { instance: 'b', outcome: 'unmatched', action: 'pass' }, 2048],
      ]),
      value('30m', 'instance_outcome:synwatch_syn_packets:rate5m', [
        [job { instance: 'a', outcome: 'unmatched' }, 10],
        [job { instance: 'b', outcome: 'unmatched' }, 2048],
      ]),
      value('30m', 'instance:synwatch_syn_packets:rate5m', [[job { instance: 'a' }, 10], [job { instance: 'b' }, 2048]]),
      value('30m', 'job_outcome:synwatch_syn_packets:rate5m', [[job { outcome: 'unmatched' }, 2058]]),
    ]),

    test('flood admission', [
      series('synwatch_peer_flood_admission', { instance: 'a' }, '0 0 2x10'),
    ], [
      at('4m', 'SynwatchFloodAdmission', []),
      at('8m', 'SynwatchFloodAdmission', [fires('SynwatchFloodAdmission', { instance: 'a' }, 'synwatch on a sees a spoofed-source flood', '2 CPUs see more new peers per second than peers.flood_new_peers_per_second: new peers enter the per-peer table on their second SYN only.')]),
    ]),

    // The baselines over recorded rates given directly (instance z has no
    // raw counter, so no rule writes over them): 10, 30, 10, 30.
    test('baselines', [
      series('instance:synwatch_syn_packets:rate5m', { instance: 'z' }, '10 30 10 30'),
      series('instance_outcome:synwatch_syn_packets:rate5m', { instance: 'z', outcome: 'denied' }, '10 30 10 30'),
    ], [], [
      value('3m', 'instance:synwatch_syn_packets:rate5m_avg1d', [[job { instance: 'z' }, 20]]),
      value('3m', 'instance:synwatch_syn_packets:rate5m_stddev1d', [[job { instance: 'z' }, 10]]),
      value('3m', 'instance_outcome:synwatch_syn_packets:rate5m_avg1d', [[job { instance: 'z', outcome: 'denied' }, 20]]),
      value('3m', 'instance_outcome:synwatch_syn_packets:rate5m_stddev1d', [[job { instance: 'z', outcome: 'denied' }, 10]]),
    ]),

    // a: 1 denied SYN/s for a day, then 100/s. b: 50/s all along.
    test('deny spike against the host baseline', [
      series('synwatch_syn_packets_total', { instance: 'a', interface: 'eth0', outcome: 'denied', action: 'drop' }, '0+60x1440 86400+6000x20'),
      series('synwatch_syn_packets_total', { instance: 'b', interface: 'eth0', outcome: 'denied', action: 'drop' }, '0+3000x1460'),
    ], [
      at('1440m', 'SynwatchDenySpike', []),
      at('1456m', 'SynwatchDenySpike', [fires('SynwatchDenySpike', { instance: 'a', outcome: 'denied' }, 'Denied SYNs spike on a: 100/s', "SYNs from denied sources arrive far above this host's own 1d baseline: someone on the deny list is trying hard.")]),
    ]),

    // a: 10 malformed/s of 110; b: 0.5/s (a high share, but few);
    // c: 2/s of 1,002 (many, but a small share).
    test('malformed spike', [
      series('synwatch_packets_total', { instance: 'a', interface: 'eth0', class: 'malformed' }, '0+600x30'),
      series('synwatch_packets_total', { instance: 'a', interface: 'eth0', class: 'syn' }, '0+6000x30'),
      series('synwatch_packets_total', { instance: 'b', interface: 'eth0', class: 'malformed' }, '0+30x30'),
      series('synwatch_packets_total', { instance: 'b', interface: 'eth0', class: 'syn' }, '0+60x30'),
      series('synwatch_packets_total', { instance: 'c', interface: 'eth0', class: 'malformed' }, '0+120x30'),
      series('synwatch_packets_total', { instance: 'c', interface: 'eth0', class: 'syn' }, '0+60000x30'),
    ], [
      at('8m', 'SynwatchMalformedSpike', []),
      at('20m', 'SynwatchMalformedSpike', [fires('SynwatchMalformedSpike', { instance: 'a' }, 'Malformed packets on a: 9.091% of all', 'More than 1% of the packets synwatch sees (and more than 1/s) have truncated or invalid headers: a broken link or device, or crafted packets.')]),
    ], [
      value('20m', 'instance_class:synwatch_packets:rate5m{instance="a"}', [
        [job { instance: 'a', class: 'malformed' }, 10],
        [job { instance: 'a', class: 'syn' }, 100],
      ]),
    ]),

    test('port scans detected', [
      series('synwatch_port_scans_detected_total', { instance: 'a', interface: 'eth0' }, '0 0 0 1 1 3x30'),
      series('synwatch_port_scans_detected_total', { instance: 'b', interface: 'eth0' }, '0x30'),
    ], [
      at('12m', 'SynwatchPortScanDetected', [fires('SynwatchPortScanDetected', { instance: 'a', interface: 'eth0' }, 'Port scans detected on eth0 on a', '3 port scans detected in the last 10 minutes; the scanners are blocked unless port_scan.block_duration is 0s or dry run is on. The log names them.')]),
      at('20m', 'SynwatchPortScanDetected', []),
    ], [
      value('7m', 'instance:synwatch_port_scans_detected:rate5m', [[job { instance: 'a' }, 0.01], [job { instance: 'b' }, 0]]),
      value('7m', 'job:synwatch_port_scans_detected:rate5m', [[job, 0.01]]),
    ]),

    test('fleet-wide scanner', fleetInput, [
      at('12m', 'SynwatchFleetScanner', [
        fires('SynwatchFleetScanner', { peer: '203.0.113.7' }, '203.0.113.7 sent SYNs to 30 hosts within 5m', 'One peer reached more than 25 synwatch hosts within 5m: a distributed (horizontal) scan that no single host detects.'),
        fires('SynwatchFleetScanner', { peer: '203.0.113.9' }, '203.0.113.9 sent SYNs to 26 hosts within 5m', 'One peer reached more than 25 synwatch hosts within 5m: a distributed (horizontal) scan that no single host detects.'),
      ]),
      at('5m', 'SynwatchFleetScanner', [
        fires('SynwatchFleetScanner', { peer: '203.0.113.9' }, '203.0.113.9 sent SYNs to 26 hosts within 5m', 'One peer reached more than 25 synwatch hosts within 5m: a distributed (horizontal) scan that no single host detects.'),
      ]),
      at('25m', 'SynwatchFleetScanner', []),
    ], [
      // .7 is new on 30 hosts at 10m: counted until its series is older
      // than the window, although it never grows.
      value('12m', 'job_peer:synwatch_peer_hosts:count5m', [
        [job { peer: '203.0.113.7' }, 30],
        [job { peer: '203.0.113.8' }, 20],
        [job { peer: '203.0.113.9' }, 26],
      ]),
      value('25m', 'job_peer:synwatch_peer_hosts:count5m', []),
    ]),

    test('ports across hosts', [
      series('synwatch_port_scan_tracked_peer_ports', { instance: 'a', peer: '203.0.113.5' }, '3x10'),
      series('synwatch_port_scan_tracked_peer_ports', { instance: 'b', peer: '203.0.113.5' }, '2x10'),
      series('synwatch_port_scan_tracked_peer_ports', { instance: 'b', peer: '198.51.100.4' }, '2x10'),
    ], [], [
      value('5m', 'job_peer:synwatch_port_scan_tracked_peer_ports:sum', [
        [job { peer: '203.0.113.5' }, 5],
        [job { peer: '198.51.100.4' }, 2],
      ]),
    ]),

    test('dry run would have dropped', [
      series('synwatch_syn_packets_total', { instance: 'a', interface: 'eth0', outcome: 'denied', action: 'pass' }, '0 0 4x40'),
      series('synwatch_dry_run', { instance: 'a' }, '1x40'),
      series('synwatch_syn_packets_total', { instance: 'b', interface: 'eth0', outcome: 'blocked', action: 'pass' }, '0 0 4x40'),
      series('synwatch_dry_run', { instance: 'b' }, '0x40'),
    ], [
      at('15m', 'SynwatchDryRunWouldDrop', [fires('SynwatchDryRunWouldDrop', { instance: 'a' }, 'synwatch on a is in dry run and would have dropped SYNs', '4 SYNs from denied, banned or blocked sources passed in the last 15 minutes because rules.dry_run is on.')]),
      at('40m', 'SynwatchDryRunWouldDrop', []),
    ], [
      value('15m', 'job:synwatch_dry_run:sum', [[job, 1]]),
    ]),

    // a: the LAPI answered until 10m, then nothing (the last success stays
    // at 600 s); b: every poll succeeds. a's write failures: 4 at 3m.
    test('CrowdSec: stale decisions, write failures, the decision table', [
      series('synwatch_crowdsec_last_success_timestamp_seconds', { instance: 'a' }, '0+60x10 600x30'),
      series('synwatch_crowdsec_last_success_timestamp_seconds', { instance: 'b' }, '0+60x40'),
      series('synwatch_crowdsec_table_write_failures_total', { instance: 'a' }, '0 0 0 4x30'),
      series('synwatch_crowdsec_table_write_failures_total', { instance: 'b' }, '0x33'),
      series('synwatch_crowdsec_prefixes', { instance: 'a' }, '131072x30'),
      series('synwatch_crowdsec_prefixes_capacity', { instance: 'a' }, '131072x30'),
      series('synwatch_crowdsec_prefixes', { instance: 'b' }, '1000x30'),
      series('synwatch_crowdsec_prefixes_capacity', { instance: 'b' }, '131072x30'),
    ], [
      at('20m', 'SynwatchCrowdsecStale', []),
      at('27m', 'SynwatchCrowdsecStale', [fires('SynwatchCrowdsecStale', { instance: 'a' }, 'synwatch on a gets no CrowdSec decisions', 'The last successful decision poll of the CrowdSec LAPI was 17m 0s ago: bans already in the kernel stay enforced and end on time, but new fleet decisions do not arrive and deleted ones are not lifted.')]),
      at('12m', 'SynwatchCrowdsecWriteFailures', [fires('SynwatchCrowdsecWriteFailures', { instance: 'a' }, 'synwatch on a cannot enforce every CrowdSec decision', '4 writes to the kernel decision table failed in the last 10 minutes (a full table: crowdsec.max_decisions): those bans are not enforced on this host.')]),
      at('25m', 'SynwatchCrowdsecWriteFailures', []),
      at('25m', 'SynwatchTableNearFull', [fires('SynwatchTableNearFull', { instance: 'a', table: 'decisions' }, 'synwatch table decisions on a is 100% full', 'The decisions table is near its capacity: past it the least recently seen entries are pushed out (peer series end, tracked scanners are forgotten, or blocks in force are lost).')]),
    ], [
      value('20m', 'instance_table:synwatch_table_fill:ratio', [
        [job { instance: 'a', table: 'decisions' }, 1],
        [job { instance: 'b', table: 'decisions' }, 1000 / 131072],
      ]),
    ]),

    test('version skew', [
      series('synwatch_build_info', { instance: 'a', version: '0.1.0', revision: 'r1', libbpf_version: '1.1.0' }, '1x90'),
      series('synwatch_build_info', { instance: 'b', version: '0.2.0', revision: 'r2', libbpf_version: '1.1.0' }, '1x90'),
      series('synwatch_build_info', { instance: 'c', version: '0.2.0', revision: 'r2', libbpf_version: '1.1.0' }, '1x90'),
    ], [
      at('30m', 'SynwatchVersionSkew', []),
      at('65m', 'SynwatchVersionSkew', [fires('SynwatchVersionSkew', {}, '2 synwatch versions run in job synwatch', 'More than one synwatch version has run in the fleet for 1h: a rollout stalled or some hosts were missed.')]),
    ], [
      value('65m', 'job_version:synwatch_build_info:count', [[job { version: '0.1.0' }, 1], [job { version: '0.2.0' }, 2]]),
    ]),

    test('one version: no skew', [
      series('synwatch_build_info', { instance: 'a', version: '0.2.0', revision: 'r2', libbpf_version: '1.1.0' }, '1x90'),
      series('synwatch_build_info', { instance: 'b', version: '0.2.0', revision: 'r2', libbpf_version: '1.1.0' }, '1x90'),
    ], [
      at('65m', 'SynwatchVersionSkew', []),
    ]),
  ],
}
