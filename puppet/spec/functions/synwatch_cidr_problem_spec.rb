# frozen_string_literal: true

# SPDX-License-Identifier: Apache-2.0

require 'spec_helper'

describe 'synwatch::cidr_problem' do
  ['192.0.2.0/24', '198.51.100.7', '0.0.0.0/0', '2001:db8::/32', '2001:db8::1', '::/0', '64:ff9b::192.0.2.1'].each do |ok|
    it { is_expected.to run.with_params(ok).and_return(nil) }
  end

  it { is_expected.to run.with_params('192.0.2.1/24').and_return('host bits set, did you mean 192.0.2.0/24?') }
  it { is_expected.to run.with_params('10.1.2.3/8').and_return('host bits set, did you mean 10.0.0.0/8?') }
  it { is_expected.to run.with_params('2001:db8::1/64').and_return('host bits set, did you mean 2001:db8::/64?') }
  it { is_expected.to run.with_params('::ffff:192.0.2.1').and_return('IPv4-mapped IPv6 address, write it as 192.0.2.1') }
  it { is_expected.to run.with_params('::ffff:192.0.2.0/120').and_return('IPv4-mapped IPv6 address, write it as 192.0.2.0/24') }
  it { is_expected.to run.with_params('not-an-address').and_raise_error(ArgumentError, %r{expects a Synwatch::Cidr}) }
end
