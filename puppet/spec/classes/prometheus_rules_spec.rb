# frozen_string_literal: true

# SPDX-License-Identifier: Apache-2.0

require 'spec_helper'
require 'open3'
require 'yaml'

RULE_FILES = %w[synwatch-alerts synwatch-rules].freeze
MODULE_RULES = File.join(SynwatchSpec::MODULE_ROOT, 'files', 'prometheus')

describe 'synwatch::prometheus_rules' do
  on_supported_os.each do |os, os_facts|
    context "on #{os}" do
      let(:facts) { os_facts }

      context 'with defaults, without voxpupuli/puppet-prometheus' do
        it { is_expected.to compile.with_all_deps }

        RULE_FILES.each do |name|
          it "writes #{name}.rules from the module, checked by promtool, and reloads Prometheus" do
            is_expected.to contain_file("/etc/prometheus/rules/#{name}.rules").with(
              ensure: 'file',
              owner: 'root',
              group: 'prometheus',
              mode: '0644',
              source: "puppet:///modules/synwatch/prometheus/#{name}.yml",
              validate_cmd: '/usr/bin/promtool check rules %',
            ).that_notifies('Exec[synwatch: reload prometheus for its rules]')
          end
        end

        it 'reloads Prometheus only when a rule file changed' do
          is_expected.to contain_exec('synwatch: reload prometheus for its rules').with(
            command: 'systemctl reload prometheus', refreshonly: true,
          )
        end

        it 'leaves the rule directory to whoever manages Prometheus' do
          is_expected.not_to contain_file('/etc/prometheus/rules')
        end
      end

      context 'with voxpupuli/puppet-prometheus managing the server' do
        let(:pre_condition) { 'include prometheus::service_reload' }

        with_fixture_modules('prometheus')

        it { is_expected.to compile.with_all_deps }

        RULE_FILES.each do |name|
          it "notifies prometheus::service_reload for #{name}" do
            is_expected.to contain_file("/etc/prometheus/rules/#{name}.rules")
              .that_notifies('Class[prometheus::service_reload]')
          end
        end

        it 'adds no reload of its own' do
          is_expected.not_to contain_exec('synwatch: reload prometheus for its rules')
        end
      end

      context 'with .yml files in a directory of its own, without validation' do
        let(:params) do
          { 'rules_dir' => '/etc/prometheus/rules.d', 'manage_rules_dir' => true,
            'file_extension' => '.yml', 'validate' => false, 'group' => 'root' }
        end

        it { is_expected.to compile.with_all_deps }
        it { is_expected.to contain_file('/etc/prometheus/rules.d').with(ensure: 'directory', mode: '0755') }

        RULE_FILES.each do |name|
          it "writes #{name}.yml after the directory, unchecked" do
            is_expected.to contain_file("/etc/prometheus/rules.d/#{name}.yml")
              .with(group: 'root', validate_cmd: nil)
              .that_requires('File[/etc/prometheus/rules.d]')
          end
        end
      end

      context 'with ensure => absent' do
        let(:params) { { 'ensure' => 'absent', 'manage_rules_dir' => true } }

        it { is_expected.to compile.with_all_deps }

        RULE_FILES.each do |name|
          it "removes #{name}.rules and reloads" do
            is_expected.to contain_file("/etc/prometheus/rules/#{name}.rules")
              .with(ensure: 'absent', validate_cmd: nil)
              .that_notifies('Exec[synwatch: reload prometheus for its rules]')
          end
        end

        it('keeps the directory') { is_expected.not_to contain_file('/etc/prometheus/rules') }
      end

      describe 'bad parameters fail compilation with a message naming them' do
        [
          ['rules_dir', 'rules', %r{parameter 'rules_dir' expects a match for Synwatch::AbsolutePath}],
          ['file_extension', '.yaml', %r{parameter 'file_extension' expects a match for Enum\['.rules', '.yml'\]}],
          ['mode', '644x', %r{parameter 'mode' expects}],
          ['ensure', 'installed', %r{parameter 'ensure' expects a match for Enum\['absent', 'present'\]}],
        ].each do |param, value, message|
          context "#{param} => #{value.inspect}" do
            let(:params) { { param => value } }

            it { is_expected.to compile.and_raise_error(message) }
          end
        end
      end
    end
  end

  describe 'the rule files the module serves (files/prometheus/)' do
    RULE_FILES.each do |name|
      path = File.join(MODULE_RULES, "#{name}.yml")

      it "#{name}.yml passes promtool check rules, as validate_cmd will run it" do
        output, status = Open3.capture2e('promtool', 'check', 'rules', path)
        expect(status.success?).to be(true), output
      end
    end

    it 'hold every alert of the runbook and the recording rules they read' do
      alerts = YAML.safe_load(File.read(File.join(MODULE_RULES, 'synwatch-alerts.yml')))
      names = alerts['groups'].flat_map { |g| g['rules'].map { |r| r['alert'] } }
      runbook = File.read(File.expand_path('../docs/runbook.md', SynwatchSpec::MODULE_ROOT))
      expect(names).not_to be_empty
      names.each { |n| expect(runbook).to include("### #{n}\n") }
      records = YAML.safe_load(File.read(File.join(MODULE_RULES, 'synwatch-rules.yml')))
                    .fetch('groups').flat_map { |g| g['rules'].map { |r| r['record'] } }
      read = alerts['groups'].flat_map { |g| g['rules'].map { |r| r['expr'] } }.join("\n")
                             .scan(%r{\b[a-z_]+:[a-z_]+:[a-z0-9_]+\b}).uniq
      expect(records).to include(*read)
    end
  end
end
