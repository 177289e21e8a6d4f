// SPDX-License-Identifier: Apache-2.0
// Alerting rules. Each alert has a paragraph in docs/runbook.md (anchor: the
// alert's name in lower case) and firing and non-firing cases in
// tests/rules_test.yml.
{
  local c = $._config,
  local h = c.hostLabel,
  local alert(name, severity, expr, forTime, summary, description) = {
    alert: name,
    expr: expr,
    [if forTime != null then 'for']: forTime,
    labels: { severity: severity },
    annotations: {
      summary: summary,
      description: description,
      runbook_url: '%s#%s' % [c.runbookUrl, std.asciiLower(name)],
    },
  },

  prometheusAlerts+:: {
    groups+: [
      {
        name: 'synwatch.alerts',
        rules: [
          alert(
            'SynwatchDown',
            'critical',
            |||
              up{%s} == 0
            ||| % c.selector,
            c.downFor,
            'synwatch on {{ $labels.%s }} is not answering scrapes' % h,
            'Prometheus has not scraped synwatch on {{ $labels.%s }} for %s. Its pinned XDP program may still count and drop, but nobody sees it.' % [h, c.downFor],
          ),
          alert(
            'SynwatchInterfaceDetached',
            'critical',
            |||
              synwatch_xdp_attached{%s} == 0
            ||| % c.selector,
            c.detachedFor,
            'synwatch is not attached to {{ $labels.interface }} on {{ $labels.%s }}' % h,
            'The XDP program is not on {{ $labels.interface }}: SYNs there are neither counted nor judged (deny rules and port-scan blocks do not apply).',
          ),
          alert(
            'SynwatchGenericMode',
            'warning',
            |||
              synwatch_xdp_attached{%s, mode="generic"} == 1
            ||| % c.selector,
            c.genericModeFor,
            'synwatch runs in generic XDP mode on {{ $labels.interface }} on {{ $labels.%s }}' % h,
            'The XDP program on {{ $labels.interface }} is attached in generic (skb) mode: it works, at several times the cost per packet of native mode, and a SYN flood costs the host more.',
          ),
          alert(
            'SynwatchReloadFailed',
            'warning',
            |||
              synwatch_config_last_reload_successful{%s} == 0
            ||| % c.selector,
            c.reloadFailedFor,
            'synwatch on {{ $labels.%s }} refused its new config' % h,
            'The last reload (SIGHUP) of synwatch on {{ $labels.%s }} failed: it still runs the previous config, not the one on disk.' % h,
          ),
          alert(
            'SynwatchScrapeErrors',
            'warning',
            |||
              increase(synwatch_scrape_errors_total{%s}[10m]) > 0
            ||| % c.selector,
            null,
            'synwatch on {{ $labels.%s }} failed to read BPF maps' % h,
            'Map reads failed in the last 10 minutes ({{ $value | printf "%.0f" }}): scrapes answered with what could be read, so some series were missing.',
          ),
          alert(
            'SynwatchScrapeSlow',
            'warning',
            |||
              avg_over_time(synwatch_scrape_duration_seconds{%s}[10m]) > %g
                or
              avg_over_time(scrape_duration_seconds{%s}[10m]) > %g
            ||| % [c.selector, c.slowScrapeSeconds, c.selector, c.slowScrapeSeconds],
            '10m',
            'Scrapes of synwatch on {{ $labels.%s }} are slow' % h,
            'Scrapes took {{ $value | humanizeDuration }} on average over 10 minutes (threshold %gs): close to scrape timeouts.' % c.slowScrapeSeconds,
          ),
          alert(
            'SynwatchTableNearFull',
            'warning',
            |||
              %s_table:synwatch_table_fill:ratio{%s} > %g
            ||| % [h, c.selector, c.tableFullRatio],
            c.tableFullFor,
            'synwatch table {{ $labels.table }} on {{ $labels.%s }} is {{ $value | humanizePercentage }} full' % h,
            'The {{ $labels.table }} table is near its capacity: past it the least recently seen entries are pushed out (peer series end, tracked scanners are forgotten, or blocks in force are lost).',
          ),
          alert(
            'SynwatchTableEvicting',
            'warning',
            |||
              %s_table:synwatch_table_evictions:rate5m{%s} > 0
            ||| % [h, c.selector],
            c.evictingFor,
            'synwatch evicts from its {{ $labels.table }} table on {{ $labels.%s }}' % h,
            'The full {{ $labels.table }} table pushes entries out ({{ $value | humanize }}/s): per-peer series end early (peer) or scanners are forgotten before they reach the port limit (track).',
          ),
          alert(
            'SynwatchEventsLost',
            'warning',
            |||
              increase(synwatch_events_dropped_total{%s, reason="ring_full"}[10m]) > 0
            ||| % c.selector,
            null,
            'synwatch on {{ $labels.%s }} lost events to a full ring buffer' % h,
            '{{ $value | printf "%.0f" }} connection-log or port-scan events were lost in the last 10 minutes: the ring buffer was full.',
          ),
          alert(
            'SynwatchSynFlood',
            'warning',
            |||
              %(h)s:synwatch_syn_packets:rate5m{%(s)s}
                > on (job, %(h)s)
                  (
                    %(f)g * %(h)s:synwatch_syn_packets:rate5m_avg%(w)s{%(s)s}
                      + %(d)g * %(h)s:synwatch_syn_packets:rate5m_stddev%(w)s{%(s)s}
                  )
              and
              %(h)s:synwatch_syn_packets:rate5m{%(s)s} > %(m)g
            ||| % { h: h, s: c.selector, f: c.baselineFactor, d: c.baselineStddevs, w: c.baselineWindow, m: c.synFloodMinRate },
            c.spikeFor,
            'SYN flood on {{ $labels.%s }}: {{ $value | humanize }} SYN/s' % h,
            "SYNs arrive far above this host's own %s baseline (%g x average + %g standard deviations, and more than %g/s)." % [c.baselineWindow, c.baselineFactor, c.baselineStddevs, c.synFloodMinRate],
          ),
          alert(
            'SynwatchFloodAdmission',
            'info',
            |||
              synwatch_peer_flood_admission{%s} > 0
            ||| % c.selector,
            c.spikeFor,
            'synwatch on {{ $labels.%s }} sees a spoofed-source flood' % h,
            '{{ $value }} CPUs see more new peers per second than peers.flood_new_peers_per_second: new peers enter the per-peer table on their second SYN only.',
          ),
          alert(
            'SynwatchDenySpike',
            'warning',
            |||
              %(h)s_outcome:synwatch_syn_packets:rate5m{%(s)s, outcome="denied"}
                > on (job, %(h)s, outcome)
                  (
                    %(f)g * %(h)s_outcome:synwatch_syn_packets:rate5m_avg%(w)s{%(s)s}
                      + %(d)g * %(h)s_outcome:synwatch_syn_packets:rate5m_stddev%(w)s{%(s)s}
                  )
              and
              %(h)s_outcome:synwatch_syn_packets:rate5m{%(s)s, outcome="denied"} > %(m)g
            ||| % { h: h, s: c.selector, f: c.baselineFactor, d: c.baselineStddevs, w: c.baselineWindow, m: c.denySpikeMinRate },
            c.spikeFor,
            'Denied SYNs spike on {{ $labels.%s }}: {{ $value | humanize }}/s' % h,
            "SYNs from denied sources arrive far above this host's own %s baseline: someone on the deny list is trying hard." % c.baselineWindow,
          ),
          alert(
            'SynwatchMalformedSpike',
            'warning',
            |||
              (
                sum by (job, %(h)s) (%(h)s_class:synwatch_packets:rate5m{%(s)s, class="malformed"})
                  / sum by (job, %(h)s) (%(h)s_class:synwatch_packets:rate5m{%(s)s})
              ) > %(r)g
              and
              sum by (job, %(h)s) (%(h)s_class:synwatch_packets:rate5m{%(s)s, class="malformed"}) > %(m)g
            ||| % { h: h, s: c.selector, r: c.malformedRatio, m: c.malformedMinRate },
            c.malformedFor,
            'Malformed packets on {{ $labels.%s }}: {{ $value | humanizePercentage }} of all' % h,
            'More than %g%% of the packets synwatch sees (and more than %g/s) have truncated or invalid headers: a broken link or device, or crafted packets.' % [c.malformedRatio * 100, c.malformedMinRate],
          ),
          alert(
            'SynwatchPortScanDetected',
            'info',
            |||
              sum by (job, %s, interface) (increase(synwatch_port_scans_detected_total{%s}[10m])) > 0
            ||| % [h, c.selector],
            null,
            'Port scans detected on {{ $labels.interface }} on {{ $labels.%s }}' % h,
            '{{ $value | printf "%.0f" }} port scans detected in the last 10 minutes; the scanners are blocked unless port_scan.block_duration is 0s or dry run is on. The log names them.',
          ),
          alert(
            'SynwatchFleetScanner',
            'warning',
            |||
              job_peer:synwatch_peer_hosts:count%s{%s} > %d
            ||| % [c.fleetScanWindow, c.selector, c.fleetScanHosts],
            null,
            '{{ $labels.peer }} sent SYNs to {{ $value }} hosts within %s' % c.fleetScanWindow,
            'One peer reached more than %d synwatch hosts within %s: a distributed (horizontal) scan that no single host detects.' % [c.fleetScanHosts, c.fleetScanWindow],
          ),
          alert(
            'SynwatchDryRunWouldDrop',
            'info',
            |||
              sum by (job, %s) (increase(synwatch_syn_packets_total{%s, outcome=~"denied|banned|blocked", action="pass"}[15m])) > 0
                and on (job, %s)
              synwatch_dry_run{%s} == 1
            ||| % [h, c.selector, h, c.selector],
            null,
            'synwatch on {{ $labels.%s }} is in dry run and would have dropped SYNs' % h,
            '{{ $value | printf "%.0f" }} SYNs from denied, banned or blocked sources passed in the last 15 minutes because rules.dry_run is on.',
          ),
          alert(
            'SynwatchCrowdsecStale',
            'warning',
            |||
              time() - synwatch_crowdsec_last_success_timestamp_seconds{%s} > %d
            ||| % [c.selector, c.crowdsecStaleSeconds],
            c.crowdsecStaleFor,
            'synwatch on {{ $labels.%s }} gets no CrowdSec decisions' % h,
            'The last successful decision poll of the CrowdSec LAPI was {{ $value | humanizeDuration }} ago: bans already in the kernel stay enforced and end on time, but new fleet decisions do not arrive and deleted ones are not lifted.',
          ),
          alert(
            'SynwatchCrowdsecWriteFailures',
            'warning',
            |||
              increase(synwatch_crowdsec_table_write_failures_total{%s}[10m]) > 0
            ||| % c.selector,
            null,
            'synwatch on {{ $labels.%s }} cannot enforce every CrowdSec decision' % h,
            '{{ $value | printf "%.0f" }} writes to the kernel decision table failed in the last 10 minutes (a full table: crowdsec.max_decisions): those bans are not enforced on this host.',
          ),
          alert(
            'SynwatchVersionSkew',
            'warning',
            |||
              count by (job) (job_version:synwatch_build_info:count{%s}) > 1
            ||| % c.selector,
            c.versionSkewFor,
            '{{ $value }} synwatch versions run in job {{ $labels.job }}',
            'More than one synwatch version has run in the fleet for %s: a rollout stalled or some hosts were missed.' % c.versionSkewFor,
          ),
        ],
      },
    ],
  },
}
