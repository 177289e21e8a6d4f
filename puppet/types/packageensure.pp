# @summary What `package_ensure` accepts: installed, latest, or a Debian version.
#
# Removal is `ensure => absent` on the class, which also stops the service
# and removes the config; it is not a package_ensure value.
#
# @example Values it accepts
#   'installed'
#   '0.1.0-1'
type Synwatch::PackageEnsure = Variant[
  Enum['present', 'installed', 'latest'],
  Pattern[/\A(?:[0-9]+:)?[0-9][A-Za-z0-9.+~-]*\z/],
]
