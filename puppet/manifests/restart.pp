# @summary Restarts synwatch when a setting changes that a reload cannot apply.
#
# A reload (SIGHUP) applies rules, prefixes, port-scan settings, interfaces
# and the log level. synwatch reads web.*, xdp.pin_path, the table sizes
# (peers.max_entries, port_scan.max_tracked_peers, port_scan.max_blocked_peers)
# and log.format only when it starts; synwatch::config keeps those in a file
# of their own, and a change to it restarts the service (`try-restart`: only
# if it is running). With pinning, counts survive the restart.
#
# @api private
class synwatch::restart {
  if $caller_module_name != $module_name {
    fail("synwatch::restart is private to the synwatch module, use class synwatch (called from '${caller_module_name}')")
  }

  if $synwatch::manage_service and $synwatch::ensure == 'present' {
    exec { "restart ${synwatch::service_name} for settings a reload cannot apply":
      command     => "/usr/bin/systemctl try-restart ${synwatch::service_name}",
      refreshonly => true,
      subscribe   => File['/etc/synwatch/.restart-settings'],
      require     => Service[$synwatch::service_name],
    }
  }
}
