# frozen_string_literal: true

# SPDX-License-Identifier: Apache-2.0
#
# The address patterns of the type aliases against Ruby's IPAddr (which
# follows inet_pton, as synwatch does) on generated addresses in every text
# form, and on mutations of them. Thousands of cases: too many to compile a
# catalogue for each, so the patterns are read from the alias files.

require 'spec_helper'
require 'ipaddr'

module SynwatchSpec
  # The Pattern['...'] string of a type alias file, as a Regexp.
  def self.alias_pattern(relative_path)
    text = File.read(File.join(MODULE_ROOT, 'types', relative_path))
    source = text[%r{Pattern\['(.*)'\]}m, 1]
    raise "no Pattern['...'] in types/#{relative_path}" if source.nil?

    Regexp.new(source)
  end

  def self.ipaddr_accepts?(text, family)
    address = IPAddr.new(text)
    family == :v4 ? address.ipv4? : address.ipv6?
  rescue IPAddr::Error
    false
  end

  # Text forms of one IPv6 address: compressed, full, upper case, and with
  # the last 32 bits as a dotted quad.
  def self.ipv6_forms(address)
    forms = [address.to_s, address.to_string, address.to_s.upcase]
    groups = address.to_string.split(':')
    forms << "#{groups[0, 6].join(':')}:#{IPAddr.new(address.to_i & 0xffff_ffff, Socket::AF_INET)}"
    forms
  end
end

describe 'address patterns of the type aliases' do
  let(:v6) { SynwatchSpec.alias_pattern('cidr/v6.pp') }
  let(:v4) { SynwatchSpec.alias_pattern('cidr/v4.pp') }
  let(:listen) { SynwatchSpec.alias_pattern('listenaddress.pp') }
  let(:rng) { Random.new(20_240_601) }

  # Addresses with runs of zero groups, so that "::" lands everywhere.
  let(:ipv6_addresses) do
    Array.new(3000) do
      groups = Array.new(8) { rng.rand < 0.45 ? 0 : rng.rand(0x10000) }
      IPAddr.new(groups.inject(0) { |acc, g| (acc << 16) | g }, Socket::AF_INET6)
    end
  end

  it 'Synwatch::Cidr::V6 accepts every IPv6 form IPAddr accepts, with and without a prefix' do
    ipv6_addresses.each do |address|
      SynwatchSpec.ipv6_forms(address).each do |form|
        expect(v6.match?(form)).to be(true), "refused #{form}"
        expect(v6.match?("#{form}/#{rng.rand(129)}")).to be(true), "refused #{form}/N"
        expect(listen.match?("[#{form}]:#{rng.rand(65_536)}")).to be(true), "listen refused [#{form}]"
      end
    end
  end

  it 'Synwatch::Cidr::V6 agrees with IPAddr on mutated addresses' do
    alphabet = [':', '::', '0', 'f', 'F', 'g', '.', '1', '12345', ':::']
    ipv6_addresses.each do |address|
      form = SynwatchSpec.ipv6_forms(address).sample(random: rng)
      mutated = form.dup
      position = rng.rand(mutated.length + 1)
      if rng.rand < 0.5 && !mutated.empty?
        mutated[[position, mutated.length - 1].min] = ''
      else
        mutated.insert(position, alphabet.sample(random: rng))
      end
      expected = SynwatchSpec.ipaddr_accepts?(mutated, :v6)
      expect(v6.match?(mutated)).to eq(expected), "#{mutated.inspect}: IPAddr says #{expected}"
    end
  end

  it 'Synwatch::Cidr::V4 accepts every dotted quad without leading zeros, and nothing shorter' do
    2000.times do
      octets = Array.new(4) { rng.rand(256) }
      text = octets.join('.')
      expect(v4.match?(text)).to be(true), text
      expect(v4.match?("#{text}/#{rng.rand(33)}")).to be(true), "#{text}/N"
      expect(v4.match?(octets[0, 3].join('.'))).to be(false)
      expect(listen.match?("#{text}:9632")).to be(true)
    end
    expect(v4.match?('192.0.2.010')).to be(false)
    expect(v4.match?('192.0.2.0/33')).to be(false)
  end

  it 'Synwatch::ListenAddress takes every port 0..65535 and no other' do
    (0..65_535).step(7).each { |port| expect(listen.match?(":#{port}")).to be(true), ":#{port}" }
    [':65535', ':0', '[::]:9632', '127.0.0.1:9632'].each { |ok| expect(listen.match?(ok)).to be(true), ok }
    [':65536', ':09632', ':', '9632', 'localhost:9632', '[::1:9632', '::1:9632', '[192.0.2.1]:9632', ':99999']
      .each { |bad| expect(listen.match?(bad)).to be(false), bad }
  end
end
