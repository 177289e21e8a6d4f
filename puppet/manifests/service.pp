# @summary Runs the synwatch service; a config change reloads it (SIGHUP), keeping its counts.
#
# @api private
class synwatch::service {
  if $caller_module_name != $module_name {
    fail("synwatch::service is private to the synwatch module, use class synwatch (called from '${caller_module_name}')")
  }

  if $synwatch::manage_service {
    if $synwatch::ensure == 'present' {
      service { $synwatch::service_name:
        ensure    => $synwatch::service_ensure,
        enable    => $synwatch::service_enable,
        hasstatus => true,
        # A refresh (config change) reloads: the unit's ExecReload sends
        # SIGHUP, which applies the new file and keeps every counter. A file
        # that does not load is never written (validate_cmd), and one that
        # fails anyway on reload leaves the running config in place. The
        # settings a reload cannot apply restart it (synwatch::restart).
        restart   => "/usr/bin/systemctl reload ${synwatch::service_name}",
      }
    } else {
      service { $synwatch::service_name:
        ensure => stopped,
        enable => false,
      }
    }
  }
}
