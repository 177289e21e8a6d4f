# frozen_string_literal: true

# SPDX-License-Identifier: Apache-2.0

require 'ipaddr'

# @summary Tells what synwatch would refuse in an address or prefix that is well formed.
#
# `Synwatch::Cidr` checks the form; this checks what a pattern cannot, the way
# synwatch itself does, so that a bad rule fails the catalog with a hint
# instead of failing `--check-config` on every node:
#
# * host bits set past the prefix ("192.0.2.1/24"): a typo must never silently
#   widen or narrow a rule;
# * IPv4-mapped IPv6 (inside ::ffff:0:0/96): the XDP program sees IPv4 sources
#   as IPv4, so such a rule would not match the traffic it names.
Puppet::Functions.create_function(:'synwatch::cidr_problem') do
  # @param cidr An address or prefix that matches `Synwatch::Cidr`.
  # @return [Optional[String]] undef when synwatch accepts it, else the reason with the fix.
  # @example What it returns
  #   synwatch::cidr_problem('192.0.2.1/24')  # => "host bits set, did you mean 192.0.2.0/24?"
  #   synwatch::cidr_problem('192.0.2.0/24')  # => undef
  dispatch :problem do
    param 'Synwatch::Cidr', :cidr
    return_type 'Optional[String]'
  end

  def problem(cidr)
    text, length = cidr.split('/', 2)
    address = IPAddr.new(text)
    length = length.nil? ? (address.ipv4? ? 32 : 128) : Integer(length, 10)

    if address.ipv6? && length >= 96 && IPAddr.new('::ffff:0:0/96').include?(address)
      native = address.native
      hint = length == 128 ? native.to_s : "#{native.mask(length - 96)}/#{length - 96}"
      return "IPv4-mapped IPv6 address, write it as #{hint}"
    end

    network = address.mask(length)
    return nil if network == address

    "host bits set, did you mean #{network}/#{length}?"
  end
end
