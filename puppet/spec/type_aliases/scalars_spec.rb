# frozen_string_literal: true

# SPDX-License-Identifier: Apache-2.0

require 'spec_helper'

describe 'Synwatch::Duration' do
  it { is_expected.to allow_values('60s', '10m', '1h30m', '500ms', '0s', '1d', '1d2h3m4s5ms', '90m') }
  it { is_expected.not_to allow_values('', '60', 's', '1m1h', '1h1h', '1.5s', '-1s', '10 m', '1w', '1y', '10M', 60) }
end

describe 'Synwatch::XdpMode' do
  it { is_expected.to allow_values('auto', 'native', 'generic') }
  it { is_expected.not_to allow_values('skb', 'drv', 'AUTO', '') }
end

describe 'Synwatch::Action' do
  it { is_expected.to allow_values('pass', 'drop') }
  it { is_expected.not_to allow_values('reject', 'DROP', '', true) }
end

describe 'Synwatch::LogLevel' do
  it { is_expected.to allow_values('trace', 'debug', 'info', 'warn', 'error') }
  it { is_expected.not_to allow_values('warning', 'fatal', 'INFO', '') }
end

describe 'Synwatch::LogFormat' do
  it { is_expected.to allow_values('text', 'json') }
  it { is_expected.not_to allow_values('logfmt', 'JSON', '') }
end

describe 'Synwatch::ListenAddress' do
  it { is_expected.to allow_values(':9632', '[::]:9632', '127.0.0.1:9632', '0.0.0.0:0', '[2001:db8::1]:65535') }
  it { is_expected.not_to allow_values('localhost:9632', ':65536', '9632', '::1:9632', '[fe80::1%eth0]:9632', '') }
end

describe 'Synwatch::Interface' do
  it { is_expected.to allow_values('auto', 'eth0', 'bond0.100', 'enp0s31f6', 'a' * 15, 'veth-synwatch') }
  it { is_expected.not_to allow_values('', '.', '..', 'a/b', 'eth0:1', 'eth 0', "eth0\n", 'a' * 16) }
end

describe 'Synwatch::MetricsPath' do
  it { is_expected.to allow_values('/metrics', '/probe/metrics', '/-', '/a-b_c~d.e') }
  it { is_expected.not_to allow_values('', '/', 'metrics', '/-/ready', '/metrics?x', '/a#b', '/a%20b', '/a b') }
end

describe 'Synwatch::AbsolutePath' do
  it { is_expected.to allow_values('/etc/synwatch/web.yml', '/sys/fs/bpf/synwatch', '/') }
  it { is_expected.not_to allow_values('', 'etc/synwatch', "/a\u0000b") }
end

describe 'Synwatch::PackageEnsure' do
  it { is_expected.to allow_values('installed', 'present', 'latest', '0.1.0-1', '1:2.3~rc1+deb12u1') }
  it { is_expected.not_to allow_values('absent', 'purged', 'held', '', 'v1.0') }
end
