# Remove synwatch: stop the service, purge the package (which detaches the XDP
# program and removes the pinned maps) and remove /etc/synwatch.
#
#   puppet apply --modulepath=MODULES examples/absent.pp
class { 'synwatch':
  ensure => absent,
}
