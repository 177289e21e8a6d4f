# frozen_string_literal: true

# SPDX-License-Identifier: Apache-2.0

require 'spec_helper'
require 'ipaddr'

DEFAULT_TOML = <<~TOML
  # Managed by Puppet (module synwatch): local changes are overwritten.
  # Every key is written out (CrowdSec's credentials only when set);
  # synwatch --print-default-config explains them.

  [web]
  listen_address = ":9632"
  metrics_path = "/metrics"
  config_file = ""

  [xdp]
  interfaces = ["auto"]
  mode = "auto"
  pin_path = "/sys/fs/bpf/synwatch"
  attach = "direct"
  run_priority = 10

  [peers]
  max_entries = 65536
  ipv4_prefix_length = 32
  ipv6_prefix_length = 64
  flood_new_peers_per_second = 25000

  [rules]
  default_action = "pass"
  dry_run = true
  allow = []
  deny = []

  [port_scan]
  enabled = true
  max_ports = 3
  window = "60s"
  block_duration = "10m"
  max_tracked_peers = 8192
  max_blocked_peers = 16384

  [log]
  level = "info"
  format = "text"
  connections = false
  connections_per_second = 100

  [crowdsec]
  enabled = false
  lapi_url = "http://127.0.0.1:8080/"
  update_interval = "10s"
  resync_interval = "1h"
  origins = []
  scopes = [
    "ip",
    "range",
  ]
  max_decisions = 131072
  report = false
  report_queue_size = 1024
TOML

RESTART_SETTINGS = <<~TEXT
  # Managed by Puppet (module synwatch): settings synwatch applies only at
  # start. When one changes, Puppet restarts the service instead of reloading it.
  web.listen_address = ":9632"
  web.metrics_path = "/metrics"
  web.config_file = ""
  xdp.pin_path = "/sys/fs/bpf/synwatch"
  xdp.attach = "direct"
  xdp.run_priority = 10
  peers.max_entries = 65536
  port_scan.max_tracked_peers = 8192
  port_scan.max_blocked_peers = 16384
  log.format = "text"
  crowdsec.enabled = false
  crowdsec.lapi_url = "http://127.0.0.1:8080/"
  crowdsec.update_interval = "10s"
  crowdsec.resync_interval = "1h"
  crowdsec.origins = []
  crowdsec.scopes = [
    "ip",
    "range",
  ]
  crowdsec.max_decisions = 131072
  crowdsec.report = false
  crowdsec.report_queue_size = 1024
TEXT

# Every parameter of class synwatch, none at its default (but
# crowdsec_machine_password, a Sensitive the example adds).
ALL_PARAMS = {
  'ensure' => 'present',
  'package_name' => 'synwatch-custom',
  'package_ensure' => '0.1.0-1',
  'package_file' => '/var/cache/synwatch/synwatch_0.1.0-1_amd64.deb',
  'config_owner' => 'root',
  'config_group' => 'adm',
  'config_mode' => '0640',
  'config_validate_cmd' => '/usr/local/bin/synwatch --check-config --config %',
  'manage_service' => true,
  'service_name' => 'synwatch-custom',
  'service_ensure' => 'stopped',
  'service_enable' => false,
  'web_listen_address' => '127.0.0.1:19632',
  'web_metrics_path' => '/probe/metrics',
  'web_config_file' => '/etc/synwatch/web-config.yml',
  'xdp_interfaces' => ['lo'],
  'xdp_mode' => 'generic',
  'xdp_pin_path' => '',
  'xdp_attach' => 'dispatcher',
  'xdp_run_priority' => 60,
  'peers_max_entries' => 4096,
  'peers_ipv4_prefix_length' => 24,
  'peers_ipv6_prefix_length' => 48,
  'peers_flood_new_peers_per_second' => 100_000,
  'rules_default_action' => 'drop',
  'rules_dry_run' => false,
  'rules_allow' => ['192.0.2.0/24', '2001:db8::/32', '198.51.100.7'],
  'rules_deny' => ['203.0.113.0/24', '2001:db8:bad::/48'],
  'port_scan_enabled' => false,
  'port_scan_max_ports' => 10,
  'port_scan_window' => '1m30s',
  'port_scan_block_duration' => '0s',
  'port_scan_max_tracked_peers' => 1024,
  'port_scan_max_blocked_peers' => 2048,
  'log_level' => 'debug',
  'log_format' => 'json',
  'log_connections' => true,
  'log_connections_per_second' => 5,
  'crowdsec_enabled' => true,
  'crowdsec_lapi_url' => 'https://lapi.example.com:8080/',
  'crowdsec_update_interval' => '30s',
  'crowdsec_resync_interval' => '15m',
  'crowdsec_origins' => ['crowdsec', 'cscli'],
  'crowdsec_scopes' => ['ip'],
  'crowdsec_max_decisions' => 200_000,
  'crowdsec_cert_file' => '/etc/synwatch/bouncer.pem',
  'crowdsec_key_file' => '/etc/synwatch/bouncer-key.pem',
  'crowdsec_ca_file' => '/etc/synwatch/lapi-ca.pem',
  'crowdsec_report' => true,
  'crowdsec_report_queue_size' => 512,
  'crowdsec_machine_id' => 'web-1',
  'export_scrape_job' => true,
  'scrape_job_name' => 'synwatch-edge',
  'scrape_host' => 'edge01.example.com',
  'scrape_port' => 443,
  'scrape_job_labels' => { 'env' => 'canary', 'role' => 'edge' },
}.freeze

ALL_PARAMS_TOML = <<~TOML
  # Managed by Puppet (module synwatch): local changes are overwritten.
  # Every key is written out (CrowdSec's credentials only when set);
  # synwatch --print-default-config explains them.

  [web]
  listen_address = "127.0.0.1:19632"
  metrics_path = "/probe/metrics"
  config_file = "/etc/synwatch/web-config.yml"

  [xdp]
  interfaces = ["lo"]
  mode = "generic"
  pin_path = ""
  attach = "dispatcher"
  run_priority = 60

  [peers]
  max_entries = 4096
  ipv4_prefix_length = 24
  ipv6_prefix_length = 48
  flood_new_peers_per_second = 100000

  [rules]
  default_action = "drop"
  dry_run = false
  allow = [
    "192.0.2.0/24",
    "2001:db8::/32",
    "198.51.100.7",
  ]
  deny = [
    "203.0.113.0/24",
    "2001:db8:bad::/48",
  ]

  [port_scan]
  enabled = false
  max_ports = 10
  window = "1m30s"
  block_duration = "0s"
  max_tracked_peers = 1024
  max_blocked_peers = 2048

  [log]
  level = "debug"
  format = "json"
  connections = true
  connections_per_second = 5

  [crowdsec]
  enabled = true
  lapi_url = "https://lapi.example.com:8080/"
  cert_file = "/etc/synwatch/bouncer.pem"
  key_file = "/etc/synwatch/bouncer-key.pem"
  ca_file = "/etc/synwatch/lapi-ca.pem"
  update_interval = "30s"
  resync_interval = "15m"
  origins = [
    "crowdsec",
    "cscli",
  ]
  scopes = ["ip"]
  max_decisions = 200000
  report = true
  report_queue_size = 512
  machine_id = "web-1"
  machine_password_file = "/etc/synwatch/crowdsec-machine.password"
TOML

describe 'synwatch' do
  on_supported_os.each do |os, os_facts|
    context "on #{os}" do
      let(:facts) { os_facts }

      context 'with defaults (module data)' do
        it { is_expected.to compile.with_all_deps }

        it 'contains install -> config ~> service' do
          is_expected.to contain_class('synwatch::install').that_comes_before('Class[synwatch::config]')
          is_expected.to contain_class('synwatch::config').that_notifies('Class[synwatch::service]')
          is_expected.to contain_class('synwatch::service')
          is_expected.not_to contain_class('synwatch::scrape_job')
        end

        it 'installs the package from apt, keeping the managed conffile on upgrade' do
          is_expected.to contain_package('synwatch').only_with(
            ensure: 'installed', provider: 'apt', configfiles: 'keep',
          )
        end

        it 'validates the config with synwatch before writing it' do
          is_expected.to contain_file('/etc/synwatch').with(ensure: 'directory', owner: 'root', group: 'root', mode: '0755')
          is_expected.to contain_file('/etc/synwatch/synwatch.toml').with(
            ensure: 'file', owner: 'root', group: 'root', mode: '0644',
            validate_cmd: '/usr/bin/synwatch --check-config --config %',
          )
        end

        it 'renders the default config exactly' do
          expect(SynwatchSpec.rendered_config(catalogue)).to eq(DEFAULT_TOML)
        end

        it 'renders TOML whose values are the built-in defaults of image/synwatch.toml' do
          expect(Tomlrb.parse(SynwatchSpec.rendered_config(catalogue))).to eq(
            'web' => { 'listen_address' => ':9632', 'metrics_path' => '/metrics', 'config_file' => '' },
            'xdp' => {
              'interfaces' => ['auto'], 'mode' => 'auto', 'pin_path' => '/sys/fs/bpf/synwatch',
              'attach' => 'direct', 'run_priority' => 10
            },
            'peers' => {
              'max_entries' => 65_536, 'ipv4_prefix_length' => 32, 'ipv6_prefix_length' => 64,
              'flood_new_peers_per_second' => 25_000
            },
            'rules' => { 'default_action' => 'pass', 'dry_run' => true, 'allow' => [], 'deny' => [] },
            'port_scan' => {
              'enabled' => true, 'max_ports' => 3, 'window' => '60s', 'block_duration' => '10m',
              'max_tracked_peers' => 8192, 'max_blocked_peers' => 16_384
            },
            'log' => { 'level' => 'info', 'format' => 'text', 'connections' => false, 'connections_per_second' => 100 },
            'crowdsec' => {
              'enabled' => false, 'lapi_url' => 'http://127.0.0.1:8080/', 'update_interval' => '10s', 'resync_interval' => '1h',
              'origins' => [], 'scopes' => ['ip', 'range'], 'max_decisions' => 131_072,
              'report' => false, 'report_queue_size' => 1024
            },
          )
        end

        it "renders the same keys and values as the package's default config (image/synwatch.toml)" do
          skip "#{SynwatchSpec::PACKAGE_DEFAULT_CONFIG} is missing" unless File.file?(SynwatchSpec::PACKAGE_DEFAULT_CONFIG)
          package_default = Tomlrb.load_file(SynwatchSpec::PACKAGE_DEFAULT_CONFIG)
          skip "#{SynwatchSpec::PACKAGE_DEFAULT_CONFIG} has no keys yet" if package_default.empty?
          expect(Tomlrb.parse(SynwatchSpec.rendered_config(catalogue))).to eq(package_default)
        end

        it 'runs the service and reloads it (SIGHUP) on a config change' do
          is_expected.to contain_service('synwatch').with(
            ensure: 'running', enable: true, hasstatus: true,
            restart: '/usr/bin/systemctl reload synwatch',
          )
        end

        it 'keeps the settings synwatch reads only at start in a file of their own' do
          is_expected.to contain_file('/etc/synwatch/.restart-settings').with(
            ensure: 'file', owner: 'root', group: 'root', mode: '0644', content: RESTART_SETTINGS,
          )
        end

        it 'restarts the service (if running) when that file changes, after the service is managed' do
          is_expected.to contain_class('synwatch::restart').that_requires('Class[synwatch::service]')
          is_expected.to contain_exec('restart synwatch for settings a reload cannot apply').with(
            command: '/usr/bin/systemctl try-restart synwatch', refreshonly: true,
            subscribe: ['File[/etc/synwatch/.restart-settings]'], require: ['Service[synwatch]'],
          )
        end

        it 'exports nothing' do
          expect(exported_resources.call.resources.select(&:exported?)).to be_empty
        end

        it_behaves_like 'a config synwatch accepts'
      end

      context 'with a CrowdSec API key' do
        let(:params) { { 'crowdsec_enabled' => true, 'crowdsec_api_key' => sensitive('0123456789abcdef') } }

        it { is_expected.to compile.with_all_deps }

        it 'writes the key to a file of its own, root only, before the config' do
          is_expected.to contain_file('/etc/synwatch/crowdsec.key').with(
            ensure: 'file', owner: 'root', group: 'root', mode: '0600', show_diff: false,
          ).that_comes_before('File[/etc/synwatch/synwatch.toml]')
        end

        it 'names the file in the config and keeps the key out of it' do
          config = SynwatchSpec.rendered_config(catalogue)
          expect(Tomlrb.parse(config)['crowdsec']).to include(
            'enabled' => true, 'api_key_file' => '/etc/synwatch/crowdsec.key',
          )
          expect(config).not_to include('0123456789abcdef')
        end

        it 'restarts synwatch when the key file moves or the section changes' do
          is_expected.to contain_file('/etc/synwatch/.restart-settings').with_content(
            %r{^crowdsec\.enabled = true$}
          ).with_content(%r{^crowdsec\.api_key_file = "/etc/synwatch/crowdsec\.key"$})
        end
      end

      context 'with the CrowdSec reporter' do
        let(:params) do
          { 'crowdsec_report' => true, 'crowdsec_machine_id' => 'web-1',
            'crowdsec_machine_password' => sensitive('machine-pw-secret') }
        end

        it { is_expected.to compile.with_all_deps }

        it 'writes the password to a file of its own, root only, before the config' do
          is_expected.to contain_file('/etc/synwatch/crowdsec-machine.password').with(
            ensure: 'file', owner: 'root', group: 'root', mode: '0600', show_diff: false,
          ).that_comes_before('File[/etc/synwatch/synwatch.toml]')
        end

        it 'names the file in the config and keeps the password out of it' do
          config = SynwatchSpec.rendered_config(catalogue)
          expect(Tomlrb.parse(config)['crowdsec']).to include(
            'enabled' => false, 'report' => true, 'machine_id' => 'web-1',
            'machine_password_file' => '/etc/synwatch/crowdsec-machine.password',
          )
          expect(config).not_to include('machine-pw-secret')
        end

        it 'restarts synwatch when the reporter changes' do
          is_expected.to contain_file('/etc/synwatch/.restart-settings').with_content(
            %r{^crowdsec\.report = true$}
          ).with_content(%r{^crowdsec\.machine_id = "web-1"$})
        end

        it_behaves_like 'a config synwatch accepts'
      end

      context 'with the CrowdSec reporter but no password' do
        let(:params) { { 'crowdsec_report' => true, 'crowdsec_machine_id' => 'web-1' } }

        it { is_expected.to compile.and_raise_error(%r{crowdsec_report needs crowdsec_machine_id and crowdsec_machine_password}) }
      end

      context 'with a CrowdSec API key and a client certificate' do
        let(:params) do
          { 'crowdsec_api_key' => sensitive('k'), 'crowdsec_cert_file' => '/c.pem', 'crowdsec_key_file' => '/k.pem' }
        end

        it { is_expected.to compile.and_raise_error(%r{crowdsec_api_key or crowdsec_cert_file}) }
      end

      context 'with every parameter set' do
        # Sensitive values are made in the example (rspec-puppet's sensitive()).
        let(:params) { ALL_PARAMS.merge('crowdsec_machine_password' => sensitive('machine-pw-secret')) }

        with_fixture_modules('prometheus')

        it { is_expected.to compile.with_all_deps }

        it 'sets every parameter the class has' do
          declared = catalogue.resource('Class', 'Synwatch').to_hash.keys.map(&:to_s) - ['name']
          expect(params.keys).to match_array(declared)
        end

        it 'renders the config exactly' do
          expect(SynwatchSpec.rendered_config(catalogue)).to eq(ALL_PARAMS_TOML)
        end

        it 'writes no CrowdSec key file with a client certificate' do
          is_expected.to contain_file('/etc/synwatch/crowdsec-machine.password').with(mode: '0600')
          is_expected.to contain_file('/etc/synwatch/crowdsec.key').with(ensure: 'absent')
        end

        it 'installs the local .deb with apt' do
          is_expected.to contain_package('synwatch-custom').with(
            ensure: '0.1.0-1', provider: 'apt', source: '/var/cache/synwatch/synwatch_0.1.0-1_amd64.deb',
          )
        end

        it 'writes the config with the given owner, mode and validation' do
          is_expected.to contain_file('/etc/synwatch/synwatch.toml').with(
            owner: 'root', group: 'adm', mode: '0640',
            validate_cmd: '/usr/local/bin/synwatch --check-config --config %',
          )
        end

        it 'manages the named service' do
          is_expected.to contain_service('synwatch-custom').with(
            ensure: 'stopped', enable: false, restart: '/usr/bin/systemctl reload synwatch-custom',
          )
        end

        it 'exports the scrape job with the given host, port and labels' do
          expect(exported_resources).to contain_prometheus__scrape_job('edge01.example.com:443').only_with(
            job_name: 'synwatch-edge', targets: ['edge01.example.com:443'],
            labels: { 'env' => 'canary', 'role' => 'edge' },
          )
        end

        # web_config_file is left out of this check: --check-config reads that
        # file too, and the module does not manage it (it has to exist on the
        # host; the TLS and basic auth tests are in tests/e2e).
        context 'when checked by synwatch, web_config_file left empty' do
          let(:params) do
            ALL_PARAMS.merge('web_config_file' => '', 'crowdsec_machine_password' => sensitive('machine-pw-secret'))
          end

          it_behaves_like 'a config synwatch accepts'
        end
      end

      context 'with a rule change only' do
        let(:params) { { 'rules_deny' => ['198.51.100.0/24'], 'log_level' => 'debug', 'xdp_interfaces' => ['eth0'] } }

        it 'reloads only: the start-only settings stay the same' do
          is_expected.to contain_file('/etc/synwatch/.restart-settings').with_content(RESTART_SETTINGS)
        end
      end

      context 'with a new listen address' do
        let(:params) { { 'web_listen_address' => '[::1]:9633' } }

        it 'changes the start-only settings, so the service restarts' do
          is_expected.to contain_file('/etc/synwatch/.restart-settings')
            .with_content(RESTART_SETTINGS.sub('web.listen_address = ":9632"', 'web.listen_address = "[::1]:9633"'))
        end
      end

      context 'with new port-scan table sizes' do
        let(:params) { { 'port_scan_max_tracked_peers' => 65_536, 'port_scan_max_blocked_peers' => 1 } }

        it 'changes the start-only settings, so the service restarts' do
          is_expected.to contain_file('/etc/synwatch/.restart-settings').with_content(
            RESTART_SETTINGS.sub('port_scan.max_tracked_peers = 8192', 'port_scan.max_tracked_peers = 65536')
                            .sub('port_scan.max_blocked_peers = 16384', 'port_scan.max_blocked_peers = 1'),
          )
        end

        it 'renders them in [port_scan]' do
          config = Tomlrb.parse(SynwatchSpec.rendered_config(catalogue))
          expect(config['port_scan']).to include('max_tracked_peers' => 65_536, 'max_blocked_peers' => 1)
        end
      end

      context 'with flood admission turned off' do
        let(:params) { { 'peers_flood_new_peers_per_second' => 0 } }

        it 'renders it in [peers]' do
          config = Tomlrb.parse(SynwatchSpec.rendered_config(catalogue))
          expect(config['peers']).to include('flood_new_peers_per_second' => 0)
          expect(SynwatchSpec.rendered_config(catalogue))
            .to eq(DEFAULT_TOML.sub('flood_new_peers_per_second = 25000', 'flood_new_peers_per_second = 0'))
        end

        it 'reloads only: synwatch applies it on SIGHUP' do
          is_expected.to contain_file('/etc/synwatch/.restart-settings').with_content(RESTART_SETTINGS)
        end

        it_behaves_like 'a config synwatch accepts'
      end

      context 'with strings that TOML must escape' do
        let(:path) { "/etc/synwatch/we\"ird\\name\t\u00e9\u0001\u007f.yml" }
        let(:params) { { 'web_config_file' => path, 'xdp_pin_path' => '/sys/fs/bpf/syn watch' } }

        it 'escapes quote, backslash and control characters' do
          expect(SynwatchSpec.rendered_config(catalogue)).to include(
            %(config_file = "/etc/synwatch/we\\"ird\\\\name\\t\u00e9\\u0001\\u007F.yml"\n),
            %(pin_path = "/sys/fs/bpf/syn watch"\n),
          )
        end

        it 'round-trips through a TOML parser' do
          parsed = Tomlrb.parse(SynwatchSpec.rendered_config(catalogue))
          expect(parsed['web']['config_file']).to eq(path)
          expect(parsed['xdp']['pin_path']).to eq('/sys/fs/bpf/syn watch')
        end
      end

      context 'with a pin path that TOML must escape' do
        let(:params) { { 'xdp_pin_path' => "/sys/fs/bpf/we\"ird\\name \u00e9\ttab" } }

        it_behaves_like 'a config synwatch accepts'
      end

      context 'with 1000 generated IPv4 and IPv6 prefixes in each list' do
        # Every prefix the types and synwatch::cidr_problem accept must load.
        let(:params) do
          rng = Random.new(7)
          prefixes = Array.new(2000) do |i|
            family, bits = i.even? ? [Socket::AF_INET, 32] : [Socket::AF_INET6, 128]
            length = rng.rand(bits + 1)
            address = IPAddr.new(rng.rand(2**bits), family).mask(length)
            # Keep IPv6 out of ::ffff:0:0/96 (written as IPv4 instead).
            address = IPAddr.new('2001:db8::', Socket::AF_INET6).mask(length) if family == Socket::AF_INET6 && address.ipv4_mapped?
            length == bits && rng.rand < 0.5 ? address.to_s : "#{address}/#{length}"
          end.uniq
          { 'rules_allow' => prefixes.each_slice(2).map(&:first), 'rules_deny' => prefixes.each_slice(2).map(&:last).compact }
        end

        it { is_expected.to compile.with_all_deps }
        it_behaves_like 'a config synwatch accepts'
      end

      context 'with several interfaces' do
        let(:params) { { 'xdp_interfaces' => ['eth0', 'bond0.100'] } }

        it 'renders one per line' do
          expect(SynwatchSpec.rendered_config(catalogue)).to include(%(interfaces = [\n  "eth0",\n  "bond0.100",\n]\n))
        end
      end

      context 'with config validation turned off (no synwatch binary in this environment)' do
        let(:params) { { 'config_validate_cmd' => false } }

        it { is_expected.to contain_file('/etc/synwatch/synwatch.toml').without_validate_cmd }
      end

      context 'with manage_service => false' do
        let(:params) { { 'manage_service' => false } }

        it { is_expected.to compile.with_all_deps }
        it { is_expected.not_to contain_service('synwatch') }
        it { is_expected.not_to contain_exec('restart synwatch for settings a reload cannot apply') }
      end

      context 'with ensure => absent' do
        let(:params) { { 'ensure' => 'absent' } }

        it { is_expected.to compile.with_all_deps }

        it 'stops the service, then purges the package, then removes /etc/synwatch' do
          is_expected.to contain_class('synwatch::service').that_comes_before('Class[synwatch::install]')
          is_expected.to contain_class('synwatch::install').that_comes_before('Class[synwatch::config]')
          is_expected.to contain_service('synwatch').only_with(ensure: 'stopped', enable: false)
          is_expected.to contain_package('synwatch').with(ensure: 'purged')
          is_expected.to contain_file('/etc/synwatch').only_with(ensure: 'absent', recurse: true, force: true)
          is_expected.not_to contain_file('/etc/synwatch/synwatch.toml')
          is_expected.not_to contain_file('/etc/synwatch/.restart-settings')
          is_expected.not_to contain_exec('restart synwatch for settings a reload cannot apply')
        end

        context 'with export_scrape_job => true' do
          let(:params) { { 'ensure' => 'absent', 'export_scrape_job' => true } }

          with_fixture_modules('prometheus')

          it 'exports nothing, so the Prometheus server drops the target' do
            is_expected.not_to contain_class('synwatch::scrape_job')
            expect(exported_resources.call.resources.select(&:exported?)).to be_empty
          end
        end
      end

      context 'with export_scrape_job => true and voxpupuli/puppet-prometheus present' do
        let(:params) { { 'export_scrape_job' => true, 'web_listen_address' => '[::]:9700' } }

        with_fixture_modules('prometheus')

        it { is_expected.to compile.with_all_deps }

        it 'exports the FQDN with the port of web_listen_address' do
          expect(exported_resources).to contain_prometheus__scrape_job('foo.example.com:9700').only_with(
            job_name: 'synwatch', targets: ['foo.example.com:9700'], labels: {},
          )
        end

        it 'applies nothing of it on the node itself' do
          is_expected.not_to contain_prometheus__scrape_job('foo.example.com:9700')
        end
      end

      context 'with export_scrape_job => true and no prometheus module' do
        let(:params) { { 'export_scrape_job' => true } }
        # Another catalogue than the group above (rspec-puppet caches by code
        # and facts, not by modulepath).
        let(:pre_condition) { '# without the prometheus module' }
        let(:logs) { [] }

        around(:each) do |example|
          collector = Puppet::Test::LogCollector.new(logs)
          Puppet::Util::Log.newdestination(collector)
          example.run
        ensure
          Puppet::Util::Log.close(collector)
        end

        it 'compiles, exports nothing and warns why' do
          is_expected.to compile.with_all_deps
          expect(exported_resources.call.resources.select(&:exported?)).to be_empty
          warnings = logs.select { |l| l.level == :warning }.map(&:message)
          expect(warnings).to include(
            a_string_matching(%r{export_scrape_job is true, but the type prometheus::scrape_job is not in this environment .* foo\.example\.com:9632 is not exported}),
          )
        end
      end

      context 'with export_scrape_job => true on a random port' do
        let(:params) { { 'export_scrape_job' => true, 'web_listen_address' => ':0' } }

        with_fixture_modules('prometheus')

        it { is_expected.to compile.and_raise_error(%r{web_listen_address ':0' picks a random port; set scrape_port}) }
      end

      describe 'bad parameters fail compilation with a message naming them' do
        [
          ['ensure', 'installed', %r{parameter 'ensure' expects a match for Enum\['absent', 'present'\]}],
          ['package_ensure', 'absent', %r{parameter 'package_ensure' expects a Synwatch::PackageEnsure}],
          ['package_file', 'synwatch.deb', %r{parameter 'package_file' expects}],
          ['config_mode', '644x', %r{parameter 'config_mode' expects}],
          ['service_ensure', 'restarted', %r{parameter 'service_ensure' expects}],
          ['web_listen_address', 'localhost:9632', %r{parameter 'web_listen_address' expects a match for Synwatch::ListenAddress}],
          ['web_listen_address', ':65536', %r{parameter 'web_listen_address' expects a match for Synwatch::ListenAddress}],
          ['web_metrics_path', 'metrics', %r{parameter 'web_metrics_path' expects a match for Synwatch::MetricsPath}],
          ['web_metrics_path', '/', %r{parameter 'web_metrics_path' expects a match for Synwatch::MetricsPath}],
          ['web_metrics_path', '/-/healthy', %r{parameter 'web_metrics_path' expects a match for Synwatch::MetricsPath}],
          ['web_metrics_path', '/metrics?x=1', %r{parameter 'web_metrics_path' expects a match for Synwatch::MetricsPath}],
          ['web_config_file', 'web.yml', %r{parameter 'web_config_file' expects}],
          ['xdp_interfaces', [], %r{parameter 'xdp_interfaces' expects size to be between 1 and 256, got 0}],
          ['xdp_interfaces', 'eth0', %r{parameter 'xdp_interfaces' expects an Array value}],
          ['xdp_interfaces', ['eth/0'], %r{parameter 'xdp_interfaces' index 0 expects}],
          ['xdp_interfaces', ['auto', 'eth0'], %r{synwatch: xdp_interfaces: 'auto' must be the only entry}],
          ['xdp_interfaces', ['eth0', 'eth0'], %r{synwatch: xdp_interfaces: duplicate entries}],
          ['xdp_mode', 'skb', %r{parameter 'xdp_mode' expects a match for Synwatch::XdpMode}],
          ['xdp_pin_path', 'relative/path', %r{parameter 'xdp_pin_path' expects}],
          ['xdp_attach', 'libxdp', %r{parameter 'xdp_attach' expects a match for Synwatch::XdpAttach}],
          ['xdp_run_priority', 1001, %r{parameter 'xdp_run_priority' expects}],
          ['peers_max_entries', 0, %r{parameter 'peers_max_entries' expects an Integer\[1, 16777216\] value, got Integer\[0, 0\]}],
          ['peers_max_entries', 16_777_217, %r{parameter 'peers_max_entries' expects an Integer\[1, 16777216\] value}],
          ['peers_ipv4_prefix_length', 33, %r{parameter 'peers_ipv4_prefix_length' expects an Integer\[0, 32\] value}],
          ['peers_ipv6_prefix_length', 129, %r{parameter 'peers_ipv6_prefix_length' expects an Integer\[0, 128\] value}],
          ['peers_flood_new_peers_per_second', -1,
           %r{parameter 'peers_flood_new_peers_per_second' expects an Integer\[0, 10000000\] value, got Integer\[-1, -1\]}],
          ['peers_flood_new_peers_per_second', 10_000_001,
           %r{parameter 'peers_flood_new_peers_per_second' expects an Integer\[0, 10000000\] value}],
          ['rules_default_action', 'reject', %r{parameter 'rules_default_action' expects a match for Synwatch::Action}],
          ['rules_dry_run', 'yes', %r{parameter 'rules_dry_run' expects a Boolean value}],
          ['rules_allow', ['192.0.2.0/33'], %r{parameter 'rules_allow' index 0 expects a Synwatch::Cidr}],
          ['rules_allow', ['192.0.2.1/24'], %r{synwatch: rules_allow\[0\]: '192\.0\.2\.1/24': host bits set, did you mean 192\.0\.2\.0/24\?}],
          ['rules_deny', ['2001:db8::/32', '2001:db8::1/64'],
           %r{synwatch: rules_deny\[1\]: '2001:db8::1/64': host bits set, did you mean 2001:db8::/64\?}],
          ['rules_deny', ['::ffff:192.0.2.1'], %r{synwatch: rules_deny\[0\]: '::ffff:192\.0\.2\.1': IPv4-mapped IPv6 address, write it as 192\.0\.2\.1}],
          ['rules_deny', ['example.com'], %r{parameter 'rules_deny' index 0 expects a Synwatch::Cidr}],
          ['port_scan_enabled', 1, %r{parameter 'port_scan_enabled' expects a Boolean value}],
          ['port_scan_max_ports', 0, %r{parameter 'port_scan_max_ports' expects an Integer\[1, 64\] value}],
          ['port_scan_max_ports', 65, %r{parameter 'port_scan_max_ports' expects an Integer\[1, 64\] value}],
          ['port_scan_window', '60', %r{parameter 'port_scan_window' expects a match for Synwatch::Duration}],
          ['port_scan_window', '0s', %r{synwatch: port_scan_window: must be longer than zero, got '0s'}],
          ['port_scan_block_duration', '10 minutes', %r{parameter 'port_scan_block_duration' expects a match for Synwatch::Duration}],
          ['port_scan_max_tracked_peers', 0, %r{parameter 'port_scan_max_tracked_peers' expects an Integer\[1, 16777216\] value, got Integer\[0, 0\]}],
          ['port_scan_max_tracked_peers', 16_777_217, %r{parameter 'port_scan_max_tracked_peers' expects an Integer\[1, 16777216\] value}],
          ['port_scan_max_tracked_peers', '8192', %r{parameter 'port_scan_max_tracked_peers' expects an Integer value, got String}],
          ['port_scan_max_blocked_peers', 0, %r{parameter 'port_scan_max_blocked_peers' expects an Integer\[1, 16777216\] value, got Integer\[0, 0\]}],
          ['port_scan_max_blocked_peers', 16_777_217, %r{parameter 'port_scan_max_blocked_peers' expects an Integer\[1, 16777216\] value}],
          ['port_scan_max_blocked_peers', '16384', %r{parameter 'port_scan_max_blocked_peers' expects an Integer value, got String}],
          ['log_level', 'verbose', %r{parameter 'log_level' expects a match for Synwatch::LogLevel}],
          ['log_format', 'xml', %r{parameter 'log_format' expects a match for Synwatch::LogFormat}],
          ['log_connections', 'no', %r{parameter 'log_connections' expects a Boolean value}],
          ['log_connections_per_second', 0, %r{parameter 'log_connections_per_second' expects an Integer\[1, 1000000\] value}],
          ['scrape_port', 70_000, %r{parameter 'scrape_port' expects a value of type Undef or Integer\[1, 65535\]}],
          ['scrape_job_labels', { 'env' => '' }, %r{parameter 'scrape_job_labels' entry 'env' expects a String\[1\] value}],
        ].each do |param, value, message|
          context "#{param} => #{value.inspect}" do
            let(:params) { { param => value } }

            it { is_expected.to compile.and_raise_error(message) }
          end
        end
      end

      describe 'private classes' do
        %w[install config service restart scrape_job].each do |name|
          context "synwatch::#{name} declared from outside the module" do
            let(:pre_condition) { "include synwatch::#{name}" }

            it { is_expected.to compile.and_raise_error(%r{synwatch::#{name} is private to the synwatch module, use class synwatch}) }
          end
        end
      end
    end
  end

  describe 'fleet rules from the example Hiera hierarchy (examples/hiera: common -> role -> node)' do
    let(:facts) { SynwatchSpec.default_facts }
    let(:hiera_config) { File.join(SynwatchSpec::MODULE_ROOT, 'examples', 'hiera', 'hiera.yaml') }

    with_fixture_modules('prometheus')

    context 'on edge01.example.com, role edge' do
      let(:node) { 'edge01.example.com' }
      let(:trusted_facts) { { 'pp_role' => 'edge' } }

      it { is_expected.to compile.with_all_deps }

      it 'merges allow and deny from every layer, most specific first, without duplicates' do
        config = Tomlrb.parse(SynwatchSpec.rendered_config(catalogue))
        expect(config['rules']['allow']).to eq(['198.51.100.7', '2001:db8::/32', '192.0.2.0/24'])
        expect(config['rules']['deny']).to eq(['2001:db8:bad::/48', '198.51.100.0/24', '203.0.113.0/24'])
      end

      it 'takes each scalar from the most specific layer that sets it' do
        config = Tomlrb.parse(SynwatchSpec.rendered_config(catalogue))
        expect(config['rules']['dry_run']).to be(false)  # role
        expect(config['log']['level']).to eq('debug')    # node
        expect(config['rules']['default_action']).to eq('pass') # module data
      end

      it_behaves_like 'a config synwatch accepts'

      it 'merges the scrape labels key by key' do
        expect(exported_resources).to contain_prometheus__scrape_job('edge01.example.com:9632').with(
          labels: { 'env' => 'canary', 'role' => 'edge' },
        )
      end
    end

    context 'on a host without a role or node data' do
      let(:node) { 'db01.example.com' }

      it 'gets the fleet-wide rules only' do
        config = Tomlrb.parse(SynwatchSpec.rendered_config(catalogue))
        expect(config['rules']['allow']).to eq(['192.0.2.0/24'])
        expect(config['rules']['deny']).to eq(['203.0.113.0/24'])
        expect(config['rules']['dry_run']).to be(true)
        expect(config['log']['level']).to eq('info')
      end
    end

    context 'when a resource-like declaration sets the list' do
      let(:node) { 'edge01.example.com' }
      let(:trusted_facts) { { 'pp_role' => 'edge' } }
      let(:params) { { 'rules_allow' => ['192.0.2.128/25'] } }

      it 'uses it as given (Hiera is not consulted for a parameter that is passed)' do
        config = Tomlrb.parse(SynwatchSpec.rendered_config(catalogue))
        expect(config['rules']['allow']).to eq(['192.0.2.128/25'])
        expect(config['rules']['deny']).to eq(['2001:db8:bad::/48', '198.51.100.0/24', '203.0.113.0/24'])
      end
    end
  end
end
