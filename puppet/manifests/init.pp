# @summary Installs synwatch, writes its config and keeps it running.
#
# synwatch counts TCP SYNs at XDP, per peer and per rule outcome, and serves
# the counts to Prometheus. This class installs the Debian package, renders
# /etc/synwatch/synwatch.toml from the parameters below (one per config key of
# synwatch; defaults in the module's Hiera data are synwatch's own defaults),
# validates it with `synwatch --check-config` before it is written, and
# reloads the service (SIGHUP, counts kept) when it changes. The few settings
# synwatch reads only at start (web.*, xdp.pin_path, peers.max_entries,
# port_scan.max_tracked_peers, port_scan.max_blocked_peers, log.format)
# restart it instead when they change.
#
# Allow and deny lists merge across the Hiera hierarchy (`merge: unique`):
# common rules, role rules and node rules all apply. See README.md.
#
# @example Everything from Hiera
#   include synwatch
#
# @example Dropping SYNs from a deny list, scraped by a voxpupuli/prometheus server
#   class { 'synwatch':
#     rules_dry_run     => false,
#     rules_deny        => ['198.51.100.0/24', '2001:db8:bad::/48'],
#     export_scrape_job => true,
#   }
#
# @example Removing synwatch
#   class { 'synwatch':
#     ensure => absent,
#   }
#
# @param ensure
#   `present` installs, configures and runs synwatch. `absent` stops and
#   disables the service, purges the package (whose maintainer scripts run
#   `synwatch --detach`: the XDP program comes off and the pinned maps go)
#   and removes /etc/synwatch.
# @param package_name
#   Name of the Debian package, installed from the node's apt sources.
# @param package_ensure
#   `installed`, `latest`, or an exact Debian version. With `package_file`,
#   give the version of that file to upgrade to it.
# @param package_file
#   Absolute path of a local .deb to install instead of the apt sources
#   (`apt-get install /path/synwatch.deb`, so its dependencies still come from
#   apt). The file must already be on the node.
# @param config_owner
#   Owner of /etc/synwatch/synwatch.toml.
# @param config_group
#   Group of /etc/synwatch/synwatch.toml.
# @param config_mode
#   Mode of /etc/synwatch/synwatch.toml.
# @param config_validate_cmd
#   Command that validates a new config before it replaces the old one; `%`
#   is the path of the candidate file. It runs on the node, so it also checks
#   that the interfaces exist there. `false` skips validation (for test
#   environments without the binary).
# @param manage_service
#   Whether to manage the synwatch service at all.
# @param service_name
#   Name of the systemd unit.
# @param service_ensure
#   Whether the service should be running.
# @param service_enable
#   Whether the service should start at boot.
# @param web_listen_address
#   `web.listen_address`: where /metrics is served, `[host]:port`.
# @param web_metrics_path
#   `web.metrics_path`: the HTTP path of the metrics.
# @param web_config_file
#   `web.config_file`: an exporter-toolkit web config (YAML: TLS, mTLS, basic
#   auth), or `''` for plain HTTP. This module does not manage that file.
# @param xdp_interfaces
#   `xdp.interfaces`: interface names, or `['auto']` for the interfaces that
#   carry default routes.
# @param xdp_mode
#   `xdp.mode`: how the XDP program is attached.
# @param xdp_pin_path
#   `xdp.pin_path`: where the program and maps are pinned so that counts
#   survive a restart, or `''` for no pinning. The package's unit prepares
#   /sys/fs/bpf/synwatch only; another path needs a unit drop-in (see the
#   comments in synwatch.service), which this module does not write.
# @param xdp_attach
#   `xdp.attach`: `direct`, or `dispatcher` to run in libxdp's dispatcher
#   beside other XDP programs (xdp-filter, for one). The dispatcher needs a
#   unit drop-in (see synwatch's README), which this module does not write.
# @param xdp_run_priority
#   `xdp.run_priority`: synwatch's place in the dispatcher's chain, lower
#   runs first.
# @param peers_max_entries
#   `peers.max_entries`: size of the per-peer table; bounds memory and the
#   number of peer series.
# @param peers_ipv4_prefix_length
#   `peers.ipv4_prefix_length`: IPv4 sources are counted per prefix of this
#   length (32: per address, 0: one peer for all of IPv4).
# @param peers_ipv6_prefix_length
#   `peers.ipv6_prefix_length`: IPv6 sources are counted per prefix of this
#   length (128: per address, 0: one peer for all of IPv6).
# @param peers_flood_new_peers_per_second
#   `peers.flood_new_peers_per_second`: above this many new peers a second on
#   one CPU (a spoofed-source flood), that CPU admits a peer to the table only
#   on its second SYN; 0: never.
# @param rules_default_action
#   `rules.default_action`: what happens to SYNs that match no rule.
# @param rules_dry_run
#   `rules.dry_run`: decide and count, but never drop.
# @param rules_allow
#   `rules.allow`: sources that are always passed and never blocked.
#   Merged across the Hiera hierarchy (`merge: unique`).
# @param rules_deny
#   `rules.deny`: sources whose SYNs are dropped (unless dry run).
#   Merged across the Hiera hierarchy (`merge: unique`).
# @param port_scan_enabled
#   `port_scan.enabled`: detect port scans in the XDP program.
# @param port_scan_max_ports
#   `port_scan.max_ports`: a peer that sends SYNs to more distinct
#   destination ports than this ...
# @param port_scan_window
#   `port_scan.window`: ... within this window is scanning. Must not be zero.
# @param port_scan_block_duration
#   `port_scan.block_duration`: how long a scanner is blocked; `'0s'` detects
#   and logs only.
# @param port_scan_max_tracked_peers
#   `port_scan.max_tracked_peers`: size of the table of peers whose ports are
#   being counted (about 600 bytes of kernel memory each); when it is full,
#   the peer seen least recently is forgotten first. Applied at restart.
# @param port_scan_max_blocked_peers
#   `port_scan.max_blocked_peers`: size of the block table; when it is full,
#   the oldest block goes first. Applied at restart.
# @param log_level
#   `log.level`.
# @param log_format
#   `log.format`.
# @param log_connections
#   `log.connections`: log every connection attempt (rate-limited).
# @param log_connections_per_second
#   `log.connections_per_second`: the rate limit of those logs.
# @param crowdsec_enabled
#   `crowdsec.enabled`: enforce a CrowdSec Local API's ban decisions in XDP
#   (outcome `banned`). Needs `crowdsec_api_key`, or `crowdsec_cert_file`
#   and `crowdsec_key_file`. Applied at restart, as are all `crowdsec_*`.
# @param crowdsec_lapi_url
#   `crowdsec.lapi_url`: the LAPI's `http://` or `https://` URL.
# @param crowdsec_update_interval
#   `crowdsec.update_interval`: how often to poll the decision stream.
# @param crowdsec_resync_interval
#   `crowdsec.resync_interval`: how often to ask for the whole decision set
#   again (heals what the delta stream missed); `'0s'` for only at start.
# @param crowdsec_origins
#   `crowdsec.origins`: only decisions of these origins; `[]` for all.
# @param crowdsec_scopes
#   `crowdsec.scopes`: `ip` and/or `range`.
# @param crowdsec_max_decisions
#   `crowdsec.max_decisions`: size of the kernel's decision table.
# @param crowdsec_api_key
#   The bouncer's API key (`cscli bouncers add`). Written to
#   /etc/synwatch/crowdsec.key (root, 0600, never shown in a diff) and named
#   by `crowdsec.api_key_file`; it never enters synwatch.toml.
# @param crowdsec_cert_file
#   `crowdsec.cert_file`: a client certificate instead of a key (the LAPI
#   knows bouncers by its OU). With `crowdsec_key_file`.
# @param crowdsec_key_file
#   `crowdsec.key_file`: the client certificate's private key.
# @param crowdsec_ca_file
#   `crowdsec.ca_file`: the CA of the LAPI's certificate (unset: the
#   system's CAs).
# @param crowdsec_report
#   `crowdsec.report`: send each port scan detected in XDP to the LAPI as
#   an alert (scenario `synwatch/port-scan`, no decision of its own: the
#   LAPI's profiles decide the ban). Needs `crowdsec_machine_id` and
#   `crowdsec_machine_password`; independent of `crowdsec_enabled`.
# @param crowdsec_report_queue_size
#   `crowdsec.report_queue_size`: alerts waiting for the LAPI; more are
#   dropped and counted.
# @param crowdsec_machine_id
#   `crowdsec.machine_id`: the machine registered with
#   `cscli machines add <id> -p <password>`.
# @param crowdsec_machine_password
#   The machine's password. Written to /etc/synwatch/crowdsec-machine.password
#   (root, 0600, never shown in a diff) and named by
#   `crowdsec.machine_password_file`; it never enters synwatch.toml.
# @param export_scrape_job
#   Export a `prometheus::scrape_job` (voxpupuli/puppet-prometheus) for this
#   node, for a Prometheus server that collects job `scrape_job_name`. Needs
#   that module in the environment and PuppetDB (exported resources); without
#   the module the catalog still compiles and a warning says why nothing was
#   exported.
# @param scrape_job_name
#   `job_name` of the exported scrape job.
# @param scrape_host
#   Host name Prometheus scrapes; default: the node's FQDN.
# @param scrape_port
#   Port Prometheus scrapes; default: the port of `web_listen_address`.
# @param scrape_job_labels
#   Labels of the exported scrape job. Merged across the Hiera hierarchy
#   (`merge: hash`).
class synwatch (
  Enum['present', 'absent'] $ensure,
  String[1] $package_name,
  Synwatch::PackageEnsure $package_ensure,
  String[1] $config_owner,
  String[1] $config_group,
  Pattern[/\A0?[0-7]{3}\z/] $config_mode,
  Variant[String[1], Boolean[false]] $config_validate_cmd,
  Boolean $manage_service,
  String[1] $service_name,
  Enum['running', 'stopped'] $service_ensure,
  Boolean $service_enable,
  Synwatch::ListenAddress $web_listen_address,
  Synwatch::MetricsPath $web_metrics_path,
  Variant[Enum[''], Synwatch::AbsolutePath] $web_config_file,
  Array[Synwatch::Interface, 1, 256] $xdp_interfaces,
  Synwatch::XdpMode $xdp_mode,
  Variant[Enum[''], Synwatch::AbsolutePath] $xdp_pin_path,
  Synwatch::XdpAttach $xdp_attach,
  Integer[0, 1000] $xdp_run_priority,
  Integer[1, 16777216] $peers_max_entries,
  Integer[0, 32] $peers_ipv4_prefix_length,
  Integer[0, 128] $peers_ipv6_prefix_length,
  Integer[0, 10000000] $peers_flood_new_peers_per_second,
  Synwatch::Action $rules_default_action,
  Boolean $rules_dry_run,
  Array[Synwatch::Cidr, 0, 16384] $rules_allow,
  Array[Synwatch::Cidr, 0, 16384] $rules_deny,
  Boolean $port_scan_enabled,
  Integer[1, 64] $port_scan_max_ports,
  Synwatch::Duration $port_scan_window,
  Synwatch::Duration $port_scan_block_duration,
  Integer[1, 16777216] $port_scan_max_tracked_peers,
  Integer[1, 16777216] $port_scan_max_blocked_peers,
  Synwatch::LogLevel $log_level,
  Synwatch::LogFormat $log_format,
  Boolean $log_connections,
  Integer[1, 1000000] $log_connections_per_second,
  Boolean $crowdsec_enabled,
  Pattern[/\Ahttps?:\/\/\S+\z/] $crowdsec_lapi_url,
  Synwatch::Duration $crowdsec_update_interval,
  Synwatch::Duration $crowdsec_resync_interval,
  Array[String[1]] $crowdsec_origins,
  Array[Enum['ip', 'range'], 1, 2] $crowdsec_scopes,
  Integer[1, 16777216] $crowdsec_max_decisions,
  Boolean $crowdsec_report,
  Integer[1, 65536] $crowdsec_report_queue_size,
  Boolean $export_scrape_job,
  String[1] $scrape_job_name,
  Hash[String[1], String[1]] $scrape_job_labels,
  Optional[Pattern[/\A\/\S+\.deb\z/]] $package_file = undef,
  Optional[String[1]] $scrape_host = undef,
  Optional[Integer[1, 65535]] $scrape_port = undef,
  Optional[Sensitive[String[1]]] $crowdsec_api_key = undef,
  Optional[Synwatch::AbsolutePath] $crowdsec_cert_file = undef,
  Optional[Synwatch::AbsolutePath] $crowdsec_key_file = undef,
  Optional[Synwatch::AbsolutePath] $crowdsec_ca_file = undef,
  Optional[Pattern[/\A[^\s"\\]+\z/]] $crowdsec_machine_id = undef,
  Optional[Sensitive[String[1]]] $crowdsec_machine_password = undef,
) {
  # What the types cannot say, checked here so that a bad value fails the
  # catalog with the parameter named, not `--check-config` on every node.
  if $crowdsec_api_key =~ NotUndef and ($crowdsec_cert_file =~ NotUndef or $crowdsec_key_file =~ NotUndef) {
    fail('synwatch: set crowdsec_api_key or crowdsec_cert_file and crowdsec_key_file, not both')
  }
  if ($crowdsec_cert_file =~ NotUndef) != ($crowdsec_key_file =~ NotUndef) {
    fail('synwatch: crowdsec_cert_file and crowdsec_key_file go together')
  }
  if $crowdsec_enabled and $crowdsec_api_key =~ Undef and $crowdsec_cert_file =~ Undef {
    fail('synwatch: crowdsec_enabled needs crowdsec_api_key, or crowdsec_cert_file and crowdsec_key_file')
  }
  if $crowdsec_report and ($crowdsec_machine_id =~ Undef or $crowdsec_machine_password =~ Undef) {
    fail('synwatch: crowdsec_report needs crowdsec_machine_id and crowdsec_machine_password')
  }
  if 'auto' in $xdp_interfaces and $xdp_interfaces.length > 1 {
    fail("synwatch: xdp_interfaces: 'auto' must be the only entry, got ${xdp_interfaces}")
  }
  if $xdp_interfaces.unique.length != $xdp_interfaces.length {
    fail("synwatch: xdp_interfaces: duplicate entries in ${xdp_interfaces}")
  }
  if $port_scan_window =~ /\A(?:0+(?:ms|d|h|m|s))+\z/ {
    fail("synwatch: port_scan_window: must be longer than zero, got '${port_scan_window}'")
  }
  $rule_lists = { 'rules_allow' => $rules_allow, 'rules_deny' => $rules_deny }
  $rule_lists.each |$key, $list| {
    $list.each |$index, $cidr| {
      $problem = synwatch::cidr_problem($cidr)
      if $problem {
        fail("synwatch: ${key}[${index}]: '${cidr}': ${problem}")
      }
    }
  }

  contain synwatch::install
  contain synwatch::config
  contain synwatch::service
  contain synwatch::restart

  if $ensure == 'present' {
    Class['synwatch::install']
    -> Class['synwatch::config']
    ~> Class['synwatch::service']
    -> Class['synwatch::restart']

    if $export_scrape_job {
      contain synwatch::scrape_job
    }
  } else {
    # Taken down in the reverse order: stop first, then purge the package
    # (whose postrm detaches the XDP program), then remove what is left.
    Class['synwatch::service']
    -> Class['synwatch::install']
    -> Class['synwatch::config']
  }
}
