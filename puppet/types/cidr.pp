# @summary An IPv4 or IPv6 address or prefix for `rules.allow` and `rules.deny`.
#
# A bare address means the full length (/32 or /128).
#
# @example Fleet rules in Hiera
#   synwatch::rules_allow:
#     - '192.0.2.0/24'
#     - '2001:db8::/32'
#     - '198.51.100.7'
type Synwatch::Cidr = Variant[Synwatch::Cidr::V4, Synwatch::Cidr::V6]
