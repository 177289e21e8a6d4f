// SPDX-License-Identifier: Apache-2.0
// Grafana dashboards in plain jsonnet (no grafonnet): one per host and one
// for the fleet. Every target's expr is evaluated against a real Prometheus
// by tests/e2e/ops_test.sh.
{
  local c = $._config,
  local h = c.hostLabel,
  local ds = { type: 'prometheus', uid: '${datasource}' },
  local host = 'job="$job", %s="$%s"' % [h, h],
  local fleet = 'job="$job"',

  local target(expr, legend='', instant=false) = {
    datasource: ds,
    expr: expr,
    legendFormat: legend,
    refId: 'A',
    [if instant then 'instant']: true,
    [if instant then 'format']: 'table',
  },
  local withRefIds(targets) = [
    targets[i] { refId: std.char(std.codepoint('A') + i) }
    for i in std.range(0, std.length(targets) - 1)
  ],
  local panel(type, title, description, targets, unit='short', w=12, hgt=8) = {
    type: type,
    title: title,
    description: description,
    datasource: ds,
    targets: withRefIds(targets),
    fieldConfig: { defaults: { unit: unit }, overrides: [] },
    options: {},
    gridPos: { w: w, h: hgt },
  },
  local ts(title, description, targets, unit='short', w=12) =
    panel('timeseries', title, description, targets, unit, w) {
      fieldConfig+: { defaults+: { custom: { fillOpacity: 10, showPoints: 'never' } } },
    },
  local stat(title, description, targets, unit='short', w=4) =
    panel('stat', title, description, targets, unit, w, 4) {
      options: { reduceOptions: { calcs: ['lastNotNull'] }, colorMode: 'value', textMode: 'auto' },
    },
  local table(title, description, targets, w=12) =
    panel('table', title, description, targets, 'short', w),

  // Lays panels out left to right, top to bottom, and numbers them.
  local layout(panels) = std.foldl(
    function(acc, p)
      local fits = acc.x + p.gridPos.w <= 24;
      local x = if fits then acc.x else 0;
      local y = if fits then acc.y else acc.y + acc.rowH;
      local rowH = if fits then std.max(acc.rowH, p.gridPos.h) else p.gridPos.h;
      acc {
        x: x + p.gridPos.w,
        y: y,
        rowH: rowH,
        out+: [p { id: std.length(acc.out) + 1, gridPos+: { x: x, y: y } }],
      },
    panels,
    { x: 0, y: 0, rowH: 0, out: [] }
  ).out,

  local variable(name, label, query) = {
    name: name,
    label: label,
    type: 'query',
    datasource: ds,
    query: { query: query, refId: name },
    definition: query,
    refresh: 2,
    sort: 1,
    includeAll: false,
    multi: false,
  },
  local datasourceVariable = {
    name: 'datasource',
    label: 'Data source',
    type: 'datasource',
    query: 'prometheus',
    refresh: 1,
  },
  local dashboard(uid, title, description, variables, panels) = {
    uid: uid,
    title: title,
    description: description,
    tags: ['synwatch'],
    editable: true,
    schemaVersion: 39,
    version: 1,
    timezone: 'utc',
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    templating: { list: [datasourceVariable] + variables },
    annotations: { list: [] },
    links: [],
    panels: layout(panels),
  },

  grafanaDashboards+:: {
    'synwatch-host.json': dashboard(
      'synwatch-host',
      'synwatch / host',
      'One host: what synwatch counts, judges and drops, and how it is doing.',
      [
        variable('job', 'Job', 'label_values(synwatch_build_info{%s}, job)' % c.selector),
        variable(h, 'Host', 'label_values(synwatch_build_info{job="$job"}, %s)' % h),
      ],
      [
        stat('Version', 'synwatch_build_info', [target('synwatch_build_info{%s}' % host, '{{version}}')]) {
          options+: { textMode: 'name' },
        },
        stat('Dry run', '1: nothing is dropped (rules.dry_run).', [target('synwatch_dry_run{%s}' % host)]),
        stat('Rules in force', 'Allow and deny prefixes.', [target('synwatch_rules{%s}' % host, '{{list}}')]),
        stat('Last reload OK', '0 after a failed reload: the previous config is still in force.', [target('synwatch_config_last_reload_successful{%s}' % host)]),
        stat('Blocked peers', 'Peers in the port-scan block table now (not expired).', [target('synwatch_blocked_peers{%s}' % host)]),
        stat('Flood admission', 'CPUs in flood admission now.', [target('synwatch_peer_flood_admission{%s}' % host)]),
        table('Interfaces', '1 while attached; mode native or generic.', [target('synwatch_xdp_attached{%s}' % host, '{{interface}} {{mode}}', instant=true)]),
        ts('SYNs by outcome and action', 'New connection attempts per second.', [target('%s_outcome_action:synwatch_syn_packets:rate5m{%s}' % [h, host], '{{outcome}} / {{action}}')], 'pps'),
        ts('SYN rate against its baseline', 'The SYN flood alert fires above the threshold (and above %g/s).' % c.synFloodMinRate, [
          target('%s:synwatch_syn_packets:rate5m{%s}' % [h, host], 'SYN/s'),
          target('%s:synwatch_syn_packets:rate5m_avg%s{%s}' % [h, c.baselineWindow, host], '%s average' % c.baselineWindow),
          target('%g * %s:synwatch_syn_packets:rate5m_avg%s{%s} + %g * %s:synwatch_syn_packets:rate5m_stddev%s{%s}' % [c.baselineFactor, h, c.baselineWindow, host, c.baselineStddevs, h, c.baselineWindow, host], 'flood threshold'),
        ], 'pps'),
        ts('Packets by class', 'Every packet the XDP program saw.', [target('%s_class:synwatch_packets:rate5m{%s}' % [h, host], '{{class}}')], 'pps'),
        table('Top peers by SYNs', 'The 10 peers with the most SYNs per second (5 minutes).', [target('topk(10, sum by (peer, outcome) (rate(synwatch_peer_syn_packets_total{%s}[5m])))' % host, '{{peer}} {{outcome}}', instant=true)]),
        table('Blocks in force', 'Seconds until each block ends (the 64 most recently detected blocks).', [target('synwatch_port_scan_block_expiry_timestamp_seconds{%s} - time()' % host, '{{peer}}', instant=true)]),
        table('Peers under the scan threshold', 'Tracked peers and the distinct ports they sent SYNs to within port_scan.window.', [target('topk(10, synwatch_port_scan_tracked_peer_ports{%s})' % host, '{{peer}}', instant=true)]),
        ts('Table fill', 'Per-peer table, port-scan track table, blocks in force, CrowdSec decisions (with [crowdsec] on).', [target('%s_table:synwatch_table_fill:ratio{%s}' % [h, host], '{{table}}')], 'percentunit'),
        ts('Table evictions', 'Entries pushed out of full tables.', [target('%s_table:synwatch_table_evictions:rate5m{%s}' % [h, host], '{{table}}')], 'ops'),
        ts('Port scans detected', 'Scans per hour, by interface.', [target('sum by (interface) (increase(synwatch_port_scans_detected_total{%s}[1h]))' % host, '{{interface}}')]),
        ts('Evasion attempts', 'Stealth probes and split TCP headers, by outcome.', [
          target('sum by (outcome) (rate(synwatch_stealth_probes_total{%s}[5m]))' % host, 'stealth {{outcome}}'),
          target('sum by (fragment, outcome) (rate(synwatch_split_tcp_fragments_total{%s}[5m]))' % host, 'split {{fragment}} {{outcome}}'),
        ], 'pps'),
        ts('CrowdSec decisions', 'Ban decisions in force by origin and scope, and the decision polls of the LAPI by result (with [crowdsec] on).', [
          target('sum by (origin, scope) (synwatch_crowdsec_decisions{%s})' % host, '{{origin}} {{scope}}'),
          target('sum by (result) (rate(synwatch_crowdsec_polls_total{%s}[5m])) * 60' % host, 'polls/min {{result}}'),
        ]),
        ts('Events not logged', 'ring_full: lost; rate_limit: over log.connections_per_second.', [target('%s_reason:synwatch_events_dropped:rate5m{%s}' % [h, host], '{{reason}}')], 'ops'),
        ts('Scrape', "synwatch's map read and Prometheus's whole scrape.", [
          target('synwatch_scrape_duration_seconds{%s}' % host, 'map read'),
          target('scrape_duration_seconds{%s}' % host, 'scrape'),
        ], 's'),
        ts('Scrape errors and HTTP answers', 'Failed map reads; HTTP responses by code.', [
          target('rate(synwatch_scrape_errors_total{%s}[5m])' % host, 'map read errors'),
          target('sum by (code) (rate(synwatch_http_responses_total{%s}[5m]))' % host, 'HTTP {{code}}'),
        ], 'ops'),
        ts('Process', 'Resident memory and CPU.', [
          target('process_resident_memory_bytes{%s}' % host, 'resident'),
        ], 'bytes'),
        ts('CPU', 'CPU seconds per second of the exporter (not of the XDP program, which runs in the kernel).', [
          target('rate(process_cpu_seconds_total{%s}[5m])' % host, 'cpu'),
        ], 'percentunit'),
      ],
    ),

    'synwatch-fleet.json': dashboard(
      'synwatch-fleet',
      'synwatch / fleet',
      'Every synwatch host: versions, coverage, totals, and peers that reach many hosts.',
      [
        variable('job', 'Job', 'label_values(synwatch_build_info{%s}, job)' % c.selector),
      ],
      [
        stat('Hosts up', 'Targets scraped successfully.', [target('sum(up{%s})' % fleet)]),
        stat('Hosts in dry run', 'Hosts with rules.dry_run on.', [target('job:synwatch_dry_run:sum{%s}' % fleet)]),
        stat('Detached interfaces', 'Interfaces synwatch should be on but is not.', [target('job:synwatch_xdp_detached:sum{%s}' % fleet)]),
        stat('Versions', 'Distinct synwatch versions running.', [target('count(job_version:synwatch_build_info:count{%s})' % fleet)]),
        stat('Port scans (1h)', 'Scans detected on all hosts in the last hour.', [target('sum(increase(synwatch_port_scans_detected_total{%s}[1h]))' % fleet)]),
        stat('Blocked peers', 'Blocks in force, summed over hosts.', [target('sum(synwatch_blocked_peers{%s})' % fleet)]),
        ts('SYNs by outcome', 'New connection attempts per second, whole fleet.', [target('job_outcome:synwatch_syn_packets:rate5m{%s}' % fleet, '{{outcome}}')], 'pps'),
        table('Versions', 'Hosts per synwatch version.', [target('job_version:synwatch_build_info:count{%s}' % fleet, '{{version}}', instant=true)]),
        table('Peers reaching many hosts', 'Peers that sent SYNs to %d or more hosts within %s; above %d the SynwatchFleetScanner alert fires.' % [c.fleetScanRecordMinHosts, c.fleetScanWindow, c.fleetScanHosts], [target('topk(20, job_peer:synwatch_peer_hosts:count%s{%s})' % [c.fleetScanWindow, fleet], '{{peer}}', instant=true)]),
        table('Ports across hosts', 'Per peer, the distinct ports it sent SYNs to within the port-scan window, summed over the hosts that track it: a scan spread over hosts, each under its threshold.', [target('topk(20, job_peer:synwatch_port_scan_tracked_peer_ports:sum{%s})' % fleet, '{{peer}}', instant=true)]),
        ts('Top hosts by SYN rate', 'The 10 hosts with the most SYNs per second.', [target('topk(10, %s:synwatch_syn_packets:rate5m{%s})' % [h, fleet], '{{%s}}' % h)], 'pps'),
        ts('Port scans by host', 'Scans detected per host, per second (5 minutes).', [target('%s:synwatch_port_scans_detected:rate5m{%s}' % [h, fleet], '{{%s}}' % h)], 'ops'),
        ts('CrowdSec decision age', 'Seconds since each host last got the decision stream from the LAPI: the 5 stalest hosts (SynwatchCrowdsecStale fires above %d s).' % c.crowdsecStaleSeconds, [target('topk(5, time() - synwatch_crowdsec_last_success_timestamp_seconds{%s})' % fleet, '{{%s}}' % h)], 's'),
        ts('Fullest tables', 'The highest fill of each table over all hosts.', [target('max by (table) (%s_table:synwatch_table_fill:ratio{%s})' % [h, fleet], '{{table}}')], 'percentunit'),
        ts('Interfaces by XDP mode', 'Attached interfaces, native and generic.', [target('job_mode:synwatch_xdp_attached:sum{%s}' % fleet, '{{mode}}')]),
        ts('Slowest scrapes', 'The 5 hosts with the slowest map reads.', [target('topk(5, synwatch_scrape_duration_seconds{%s})' % fleet, '{{%s}}' % h)], 's'),
      ],
    ),
  },
}
