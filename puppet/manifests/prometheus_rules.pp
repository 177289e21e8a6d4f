# @summary Puts synwatch's alerting and recording rules on a Prometheus server.
#
# Declare it on the Prometheus server, not on the synwatch hosts. It writes
# the two rule files that the synwatch build renders from its monitoring mixin
# (`synwatch-alerts` and `synwatch-rules`; the module carries a copy in
# files/prometheus/, which `make test` keeps equal to the build's) into
# `rules_dir`, has `promtool check rules` check each before it replaces the
# old one, and reloads Prometheus when one changes. The alerts read the
# recorded series, so both files are always written together. Prometheus must
# load them: its `rule_files` must include `rules_dir`'s files (for example
# `/etc/prometheus/rules/*.rules`).
#
# With voxpupuli/puppet-prometheus, declare `prometheus::server` before this
# class: the files then notify its `prometheus::service_reload` and are written
# with its user's group. Without it, `reload_command` reloads Prometheus
# (Debian's unit reloads on SIGHUP).
#
# @example On a Prometheus server managed by voxpupuli/puppet-prometheus
#   class { 'prometheus::server':
#     rule_files => ['/etc/prometheus/rules/*.rules'],
#   }
#   include synwatch::prometheus_rules
#
# @example Debian's prometheus package, rules as .yml files
#   class { 'synwatch::prometheus_rules':
#     rules_dir      => '/etc/prometheus/rules.d',
#     file_extension => '.yml',
#   }
#
# @param ensure
#   `present` writes the rule files, `absent` removes them (and reloads).
# @param rules_dir
#   Directory of the rule files. It must exist (`manage_rules_dir` creates it).
# @param manage_rules_dir
#   Whether this class creates `rules_dir`. Leave it false when another class
#   (such as voxpupuli's `prometheus::config`) manages the directory.
# @param file_extension
#   Extension of the rule files: `.rules` or `.yml`.
# @param owner
#   Owner of the rule files.
# @param group
#   Group of the rule files; default: `prometheus`.
# @param mode
#   Mode of the rule files.
# @param validate
#   Check each file with `promtool check rules` before it replaces the old
#   one; a file that fails is not written.
# @param promtool
#   Path of promtool on the server.
# @param reload_command
#   Reloads Prometheus after a change, when voxpupuli's
#   `prometheus::service_reload` is not in the catalog.
class synwatch::prometheus_rules (
  Enum['present', 'absent'] $ensure = 'present',
  Synwatch::AbsolutePath $rules_dir = '/etc/prometheus/rules',
  Boolean $manage_rules_dir = false,
  Enum['.rules', '.yml'] $file_extension = '.rules',
  String[1] $owner = 'root',
  String[1] $group = 'prometheus',
  Pattern[/\A0?[0-7]{3}\z/] $mode = '0644',
  Boolean $validate = true,
  Synwatch::AbsolutePath $promtool = '/usr/bin/promtool',
  String[1] $reload_command = 'systemctl reload prometheus',
) {
  if defined(Class['prometheus::service_reload']) {
    $reload = Class['prometheus::service_reload']
  } else {
    exec { 'synwatch: reload prometheus for its rules':
      command     => $reload_command,
      path        => ['/usr/sbin', '/usr/bin', '/sbin', '/bin'],
      refreshonly => true,
    }
    $reload = Exec['synwatch: reload prometheus for its rules']
  }

  if $manage_rules_dir and $ensure == 'present' {
    file { $rules_dir:
      ensure => directory,
      owner  => $owner,
      group  => $group,
      mode   => '0755',
      before => File["${rules_dir}/synwatch-alerts${file_extension}", "${rules_dir}/synwatch-rules${file_extension}"],
    }
  }

  $file_ensure = $ensure ? {
    'present' => file,
    default   => absent,
  }
  $validate_cmd = ($validate and $ensure == 'present') ? {
    true    => "${promtool} check rules %",
    default => undef,
  }
  ['synwatch-alerts', 'synwatch-rules'].each |$name| {
    file { "${rules_dir}/${name}${file_extension}":
      ensure       => $file_ensure,
      owner        => $owner,
      group        => $group,
      mode         => $mode,
      source       => "puppet:///modules/synwatch/prometheus/${name}.yml",
      validate_cmd => $validate_cmd,
      notify       => $reload,
    }
  }
}
