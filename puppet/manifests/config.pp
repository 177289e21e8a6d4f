# @summary Writes /etc/synwatch/synwatch.toml, validated before it replaces the old one.
#
# @api private
class synwatch::config {
  if $caller_module_name != $module_name {
    fail("synwatch::config is private to the synwatch module, use class synwatch (called from '${caller_module_name}')")
  }

  # The package's unit reads this path; it is not a parameter on purpose.
  $config_dir = '/etc/synwatch'
  $config_file = "${config_dir}/synwatch.toml"
  # The CrowdSec bouncer's key, out of synwatch.toml (which may be readable).
  $crowdsec_key_path = "${config_dir}/crowdsec.key"
  $crowdsec_api_key_file = $synwatch::crowdsec_api_key ? {
    undef   => undef,
    default => $crowdsec_key_path,
  }

  # The reporter's machine password, likewise.
  $crowdsec_password_path = "${config_dir}/crowdsec-machine.password"
  $crowdsec_machine_password_file = $synwatch::crowdsec_machine_password ? {
    undef   => undef,
    default => $crowdsec_password_path,
  }

  $validate_cmd = $synwatch::config_validate_cmd ? {
    false   => undef,
    default => $synwatch::config_validate_cmd,
  }

  if $synwatch::ensure == 'present' {
    file { $config_dir:
      ensure => directory,
      owner  => 'root',
      group  => 'root',
      mode   => '0755',
    }

    if $synwatch::crowdsec_api_key =~ NotUndef {
      file { $crowdsec_key_path:
        ensure    => file,
        owner     => 'root',
        group     => 'root',
        mode      => '0600',
        show_diff => false,
        content   => $synwatch::crowdsec_api_key,
        before    => File[$config_file],
      }
    } else {
      file { $crowdsec_key_path:
        ensure => absent,
      }
    }

    if $synwatch::crowdsec_machine_password =~ NotUndef {
      file { $crowdsec_password_path:
        ensure    => file,
        owner     => 'root',
        group     => 'root',
        mode      => '0600',
        show_diff => false,
        content   => $synwatch::crowdsec_machine_password,
        before    => File[$config_file],
      }
    } else {
      file { $crowdsec_password_path:
        ensure => absent,
      }
    }

    file { $config_file:
      ensure       => file,
      owner        => $synwatch::config_owner,
      group        => $synwatch::config_group,
      mode         => $synwatch::config_mode,
      validate_cmd => $validate_cmd,
      content      => epp('synwatch/synwatch.toml.epp', {
          'web_listen_address'               => $synwatch::web_listen_address,
          'web_metrics_path'                 => $synwatch::web_metrics_path,
          'web_config_file'                  => $synwatch::web_config_file,
          'xdp_interfaces'                   => $synwatch::xdp_interfaces,
          'xdp_mode'                         => $synwatch::xdp_mode,
          'xdp_pin_path'                     => $synwatch::xdp_pin_path,
          'xdp_attach'                       => $synwatch::xdp_attach,
          'xdp_run_priority'                 => $synwatch::xdp_run_priority,
          'peers_max_entries'                => $synwatch::peers_max_entries,
          'peers_ipv4_prefix_length'         => $synwatch::peers_ipv4_prefix_length,
          'peers_ipv6_prefix_length'         => $synwatch::peers_ipv6_prefix_length,
          'peers_flood_new_peers_per_second' => $synwatch::peers_flood_new_peers_per_second,
          'rules_default_action'             => $synwatch::rules_default_action,
          'rules_dry_run'                    => $synwatch::rules_dry_run,
          'rules_allow'                      => $synwatch::rules_allow,
          'rules_deny'                       => $synwatch::rules_deny,
          'port_scan_enabled'                => $synwatch::port_scan_enabled,
          'port_scan_max_ports'              => $synwatch::port_scan_max_ports,
          'port_scan_window'                 => $synwatch::port_scan_window,
          'port_scan_block_duration'         => $synwatch::port_scan_block_duration,
          'port_scan_max_tracked_peers'      => $synwatch::port_scan_max_tracked_peers,
          'port_scan_max_blocked_peers'      => $synwatch::port_scan_max_blocked_peers,
          'log_level'                        => $synwatch::log_level,
          'log_format'                       => $synwatch::log_format,
          'log_connections'                  => $synwatch::log_connections,
          'log_connections_per_second'       => $synwatch::log_connections_per_second,
          'crowdsec_enabled'                 => $synwatch::crowdsec_enabled,
          'crowdsec_lapi_url'                => $synwatch::crowdsec_lapi_url,
          'crowdsec_api_key_file'            => $crowdsec_api_key_file,
          'crowdsec_cert_file'               => $synwatch::crowdsec_cert_file,
          'crowdsec_key_file'                => $synwatch::crowdsec_key_file,
          'crowdsec_ca_file'                 => $synwatch::crowdsec_ca_file,
          'crowdsec_update_interval'         => $synwatch::crowdsec_update_interval,
          'crowdsec_resync_interval'         => $synwatch::crowdsec_resync_interval,
          'crowdsec_origins'                 => $synwatch::crowdsec_origins,
          'crowdsec_scopes'                  => $synwatch::crowdsec_scopes,
          'crowdsec_max_decisions'           => $synwatch::crowdsec_max_decisions,
          'crowdsec_report'                  => $synwatch::crowdsec_report,
          'crowdsec_report_queue_size'       => $synwatch::crowdsec_report_queue_size,
          'crowdsec_machine_id'              => $synwatch::crowdsec_machine_id,
          'crowdsec_machine_password_file'   => $crowdsec_machine_password_file,
      }),
    }

    # synwatch applies these settings only when it starts (a SIGHUP keeps the
    # running values and logs so). Their own file changes with them alone, and
    # synwatch::restart restarts the service when it does.
    $restart_settings = {
      'web.listen_address'          => $synwatch::web_listen_address,
      'web.metrics_path'            => $synwatch::web_metrics_path,
      'web.config_file'             => $synwatch::web_config_file,
      'xdp.pin_path'                => $synwatch::xdp_pin_path,
      'xdp.attach'                  => $synwatch::xdp_attach,
      'xdp.run_priority'            => $synwatch::xdp_run_priority,
      'peers.max_entries'           => $synwatch::peers_max_entries,
      'port_scan.max_tracked_peers' => $synwatch::port_scan_max_tracked_peers,
      'port_scan.max_blocked_peers' => $synwatch::port_scan_max_blocked_peers,
      'log.format'                  => $synwatch::log_format,
      'crowdsec.enabled'            => $synwatch::crowdsec_enabled,
      'crowdsec.lapi_url'           => $synwatch::crowdsec_lapi_url,
      'crowdsec.update_interval'    => $synwatch::crowdsec_update_interval,
      'crowdsec.resync_interval'    => $synwatch::crowdsec_resync_interval,
      'crowdsec.origins'            => $synwatch::crowdsec_origins,
      'crowdsec.scopes'             => $synwatch::crowdsec_scopes,
      'crowdsec.max_decisions'      => $synwatch::crowdsec_max_decisions,
      'crowdsec.report'             => $synwatch::crowdsec_report,
      'crowdsec.report_queue_size'  => $synwatch::crowdsec_report_queue_size,
    } + ({
        'crowdsec.api_key_file' => $crowdsec_api_key_file,
        'crowdsec.cert_file'    => $synwatch::crowdsec_cert_file,
        'crowdsec.key_file'     => $synwatch::crowdsec_key_file,
        'crowdsec.ca_file'      => $synwatch::crowdsec_ca_file,
        'crowdsec.machine_id'   => $synwatch::crowdsec_machine_id,
        'crowdsec.machine_password_file' => $crowdsec_machine_password_file,
    }.filter |$key, $value| { $value =~ NotUndef })
    file { "${config_dir}/.restart-settings":
      ensure  => file,
      owner   => 'root',
      group   => 'root',
      mode    => '0644',
      content => join([
          "# Managed by Puppet (module synwatch): settings synwatch applies only at\n",
          "# start. When one changes, Puppet restarts the service instead of reloading it.\n",
      ] + $restart_settings.map |$key, $value| { "${key} = ${synwatch::toml_value($value)}\n" }, ''),
    }
  } else {
    # Purging the package removes its conffile; this removes whatever else
    # was put there (a web config, an editor's backup).
    file { $config_dir:
      ensure  => absent,
      recurse => true,
      force   => true,
    }
  }
}
