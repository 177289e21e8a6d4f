# frozen_string_literal: true

# SPDX-License-Identifier: Apache-2.0

require 'spec_helper'

describe 'Synwatch::Cidr' do
  [
    '192.0.2.0/24', '198.51.100.7', '203.0.113.255/32', '0.0.0.0/0', '10.0.0.0/8',
    '2001:db8::/32', '2001:db8:1:2::/64', '::', '::/0', '::1', '2001:DB8::1/128',
    '1:2:3:4:5:6:7:8', '64:ff9b::192.0.2.1', 'fe80::/10'
  ].each do |value|
    it { is_expected.to allow_value(value) }
  end

  [
    '', ' 192.0.2.0/24', '192.0.2.0/24 ', '192.0.2.0/33', '192.0.2.0/', '192.0.2.0/024',
    '192.0.2', '1.2.3', '192.0.2.01', '256.0.0.1', '192.0.2.0/-1', 'example.com',
    '2001:db8::/129', '2001:db8:::/32', '1:2:3:4:5:6:7:8:9', '1::2::3', 'fe80::1%eth0',
    '12345::', '2001:db8::/', "192.0.2.0/24\n", 'g::1', 1, ['192.0.2.0/24']
  ].each do |value|
    it { is_expected.not_to allow_value(value) }
  end
end

describe 'Synwatch::Cidr::V4' do
  it { is_expected.to allow_values('192.0.2.0/24', '255.255.255.255', '0.0.0.0/0') }
  it { is_expected.not_to allow_values('2001:db8::/32', '192.0.2.0/33', '1.1.1.1.1') }
end

describe 'Synwatch::Cidr::V6' do
  it { is_expected.to allow_values('2001:db8::/32', '::ffff:192.0.2.1', '::/0') }
  it { is_expected.not_to allow_values('192.0.2.0/24', '2001:db8::/129', ':::') }
end
