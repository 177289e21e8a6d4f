# @summary Installs or purges the synwatch package.
#
# @api private
class synwatch::install {
  if $caller_module_name != $module_name {
    fail("synwatch::install is private to the synwatch module, use class synwatch (called from '${caller_module_name}')")
  }

  $package_ensure = $synwatch::ensure ? {
    'present' => $synwatch::package_ensure,
    default   => 'purged',
  }

  package { $synwatch::package_name:
    ensure      => $package_ensure,
    # The apt provider installs a local file with `apt-get install FILE`,
    # which resolves the package's dependencies from the apt sources.
    provider    => 'apt',
    source      => $synwatch::package_file,
    # Puppet owns the conffile: an upgrade keeps it, and never stops to ask.
    configfiles => 'keep',
  }
}
