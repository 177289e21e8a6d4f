# Install a locally built package (its dependencies still come from apt) and
# attach to one interface, counting per /24 and /48.
#
#   puppet apply --modulepath=MODULES examples/local_deb.pp
class { 'synwatch':
  package_file             => '/var/cache/synwatch/synwatch_0.1.0-1_amd64.deb',
  xdp_interfaces           => ['eth0'],
  peers_ipv4_prefix_length => 24,
  peers_ipv6_prefix_length => 48,
}
