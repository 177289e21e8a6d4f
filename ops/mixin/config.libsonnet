// SPDX-License-Identifier: Apache-2.0
// Settings of the synwatch monitoring mixin. Override any of them with
//   (import 'mixin.libsonnet') + { _config+:: { selector: 'job="edge"' } }
// and render again (ops/mixin/render.jsonnet).
{
  _config+:: {
    // Selects synwatch's targets in every rule and dashboard query.
    selector: 'job="synwatch"',
    // Label that tells hosts apart (one synwatch per host).
    hostLabel: 'instance',

    // Runbook: each alert links to its paragraph (anchor = alert name, lower case).
    runbookUrl: 'https://example.com/synwatch/synwatch/blob/main/docs/runbook.md',

    // How long a condition must hold before its alert fires.
    downFor: '5m',
    detachedFor: '5m',
    genericModeFor: '30m',
    reloadFailedFor: '1m',

    // Scrapes: map reads slower than this (synwatch's own gauge, or the
    // whole scrape as Prometheus measured it), on average over 10 minutes.
    slowScrapeSeconds: 2,

    // Tables: a fill above this ratio for tableFullFor is "near full".
    tableFullRatio: 0.9,
    tableFullFor: '15m',
    evictingFor: '15m',

    // SYN flood and deny spike: the 5-minute rate above
    //   baselineFactor * (1-day average) + baselineStddevs * (1-day stddev)
    // of the host's own rate, and above a floor (per second) so that an
    // idle host's noise does not page.
    baselineWindow: '1d',
    baselineFactor: 3,
    baselineStddevs: 4,
    synFloodMinRate: 100,
    denySpikeMinRate: 10,
    spikeFor: '5m',

    // Malformed packets: above this share of all packets and this rate.
    malformedRatio: 0.01,
    malformedMinRate: 1,
    malformedFor: '10m',

    // Fleet-wide scan detection (Zeek's anchor: one source reaching more
    // than 25 hosts within 5 minutes). The recording rule keeps only peers
    // seen on at least fleetScanRecordMinHosts hosts (cardinality bound).
    fleetScanWindow: '5m',
    fleetScanHosts: 25,
    fleetScanRecordMinHosts: 2,

    // Version skew: more than one synwatch version in a job for this long.
    versionSkewFor: '1h',

    // CrowdSec ([crowdsec] on): no successful decision poll for this many
    // seconds (the poll backs off to 32 update intervals, 320 s at the
    // default, while the LAPI is down), for crowdsecStaleFor.
    crowdsecStaleSeconds: 600,
    crowdsecStaleFor: '5m',
  },
}
