// SPDX-License-Identifier: Apache-2.0
// Recording rules: what the dashboards, the baselines and the fleet views
// read. Every rule is listed, with its cardinality, in docs/runbook.md.
{
  prometheusRules+:: {
    local c = $._config,
    local h = c.hostLabel,
    groups+: [
      {
        name: 'synwatch.rules',
        rules: [
          {
            record: '%s_outcome_action:synwatch_syn_packets:rate5m' % h,
            expr: |||
              sum by (job, %s, outcome, action) (rate(synwatch_syn_packets_total{%s}[5m]))
            ||| % [h, c.selector],
          },
          {
            record: '%s_outcome:synwatch_syn_packets:rate5m' % h,
            expr: |||
              sum by (job, %s, outcome) (%s_outcome_action:synwatch_syn_packets:rate5m{%s})
            ||| % [h, h, c.selector],
          },
          {
            record: '%s:synwatch_syn_packets:rate5m' % h,
            expr: |||
              sum by (job, %s) (%s_outcome:synwatch_syn_packets:rate5m{%s})
            ||| % [h, h, c.selector],
          },
          {
            record: '%s_class:synwatch_packets:rate5m' % h,
            expr: |||
              sum by (job, %s, class) (rate(synwatch_packets_total{%s}[5m]))
            ||| % [h, c.selector],
          },
          {
            record: '%s:synwatch_port_scans_detected:rate5m' % h,
            expr: |||
              sum by (job, %s) (rate(synwatch_port_scans_detected_total{%s}[5m]))
            ||| % [h, c.selector],
          },
          {
            record: '%s_reason:synwatch_events_dropped:rate5m' % h,
            expr: |||
              sum by (job, %s, reason) (rate(synwatch_events_dropped_total{%s}[5m]))
            ||| % [h, c.selector],
          },
          // Table fill, one series per table: the per-peer table, the
          // port-scan track table, and the blocks in force (expired blocks
          // stay in the block table until pushed out, so they do not count).
          {
            record: '%s_table:synwatch_table_fill:ratio' % h,
            labels: { table: 'peer' },
            expr: |||
              synwatch_peer_table_entries{%s} / synwatch_peer_table_capacity{%s}
            ||| % [c.selector, c.selector],
          },
          {
            record: '%s_table:synwatch_table_fill:ratio' % h,
            labels: { table: 'track' },
            expr: |||
              sum without (table) (synwatch_port_scan_table_entries{%s, table="track"})
                / sum without (table) (synwatch_port_scan_table_capacity{%s, table="track"})
            ||| % [c.selector, c.selector],
          },
          {
            record: '%s_table:synwatch_table_fill:ratio' % h,
            labels: { table: 'block' },
            expr: |||
              synwatch_blocked_peers{%s}
                / on (job, %s) sum without (table) (synwatch_port_scan_table_capacity{%s, table="block"})
            ||| % [c.selector, h, c.selector],
          },
          // The CrowdSec decision table (prefixes, several decisions on one
          // prefix being one entry), on hosts with [crowdsec] on.
          {
            record: '%s_table:synwatch_table_fill:ratio' % h,
            labels: { table: 'decisions' },
            expr: |||
              synwatch_crowdsec_prefixes{%s} / synwatch_crowdsec_prefixes_capacity{%s}
            ||| % [c.selector, c.selector],
          },
          {
            record: '%s_table:synwatch_table_evictions:rate5m' % h,
            labels: { table: 'peer' },
            expr: |||
              rate(synwatch_peer_table_evictions_total{%s}[5m])
            ||| % c.selector,
          },
          {
            record: '%s_table:synwatch_table_evictions:rate5m' % h,
            labels: { table: 'track' },
            expr: |||
              rate(synwatch_port_scan_track_evictions_total{%s}[5m])
            ||| % c.selector,
          },
        ],
      },
      {
        // The host's own baseline, for the SYN flood and deny spike alerts.
        name: 'synwatch.baseline',
        rules: [
          {
            record: '%s:synwatch_syn_packets:rate5m_avg%s' % [h, c.baselineWindow],
            expr: |||
              avg_over_time(%s:synwatch_syn_packets:rate5m{%s}[%s])
            ||| % [h, c.selector, c.baselineWindow],
          },
          {
            record: '%s:synwatch_syn_packets:rate5m_stddev%s' % [h, c.baselineWindow],
            expr: |||
              stddev_over_time(%s:synwatch_syn_packets:rate5m{%s}[%s])
            ||| % [h, c.selector, c.baselineWindow],
          },
          {
            record: '%s_outcome:synwatch_syn_packets:rate5m_avg%s' % [h, c.baselineWindow],
            expr: |||
              avg_over_time(%s_outcome:synwatch_syn_packets:rate5m{%s}[%s])
            ||| % [h, c.selector, c.baselineWindow],
          },
          {
            record: '%s_outcome:synwatch_syn_packets:rate5m_stddev%s' % [h, c.baselineWindow],
            expr: |||
              stddev_over_time(%s_outcome:synwatch_syn_packets:rate5m{%s}[%s])
            ||| % [h, c.selector, c.baselineWindow],
          },
        ],
      },
      {
        name: 'synwatch.fleet',
        rules: [
          {
            record: 'job_outcome:synwatch_syn_packets:rate5m',
            expr: |||
              sum by (job, outcome) (%s_outcome:synwatch_syn_packets:rate5m{%s})
            ||| % [h, c.selector],
          },
          {
            record: 'job_version:synwatch_build_info:count',
            expr: |||
              count by (job, version) (synwatch_build_info{%s})
            ||| % c.selector,
          },
          {
            record: 'job_mode:synwatch_xdp_attached:sum',
            expr: |||
              sum by (job, mode) (synwatch_xdp_attached{%s})
            ||| % c.selector,
          },
          {
            record: 'job:synwatch_xdp_detached:sum',
            expr: |||
              sum by (job) (1 - synwatch_xdp_attached{%s})
            ||| % c.selector,
          },
          {
            record: 'job:synwatch_dry_run:sum',
            expr: |||
              sum by (job) (synwatch_dry_run{%s})
            ||| % c.selector,
          },
          {
            record: 'job:synwatch_port_scans_detected:rate5m',
            expr: |||
              sum by (job) (%s:synwatch_port_scans_detected:rate5m{%s})
            ||| % [h, c.selector],
          },
          // Ports across hosts: per peer, the distinct ports it sent SYNs
          // to within port_scan.window on each host, summed over the hosts
          // that track it (an upper bound of its distinct ports fleet-wide:
          // a port hit on two hosts counts twice). Each host exports its
          // 64 peers with the most ports at most.
          {
            record: 'job_peer:synwatch_port_scan_tracked_peer_ports:sum',
            expr: |||
              sum by (job, peer) (synwatch_port_scan_tracked_peer_ports{%s})
            ||| % c.selector,
          },
          // Fleet-wide scan detection: for each peer, the number of hosts
          // it sent a SYN to within the window. A host counts when the
          // peer's series there grew within the window, or when the series
          // is new in it: a peer's series starts at its first SYN, already
          // above zero, and increase() needs two samples, so a peer that
          // sends one SYN to each host would otherwise count nowhere.
          {
            record: 'job_peer:synwatch_peer_hosts:count%s' % c.fleetScanWindow,
            expr: |||
              count by (job, peer) (
                count by (job, %s, peer) (
                    increase(synwatch_peer_syn_packets_total{%s}[%s]) > 0
                  or
                    (
                      synwatch_peer_syn_packets_total{%s}
                        unless
                      synwatch_peer_syn_packets_total{%s} offset %s
                    )
                )
              ) >= %d
            ||| % [h, c.selector, c.fleetScanWindow, c.selector, c.selector, c.fleetScanWindow, c.fleetScanRecordMinHosts],
          },
        ],
      },
    ],
  },
}
