# @summary Exports this node as a target of a voxpupuli/puppet-prometheus scrape job.
#
# A Prometheus server managed by puppet-prometheus collects it with
# `prometheus::server::collect_scrape_jobs: [{job_name: synwatch}]`.
#
# @api private
class synwatch::scrape_job {
  if $caller_module_name != $module_name {
    fail("synwatch::scrape_job is private to the synwatch module, use class synwatch (called from '${caller_module_name}')")
  }

  $host = $synwatch::scrape_host ? {
    undef   => $facts['networking']['fqdn'],
    default => $synwatch::scrape_host,
  }
  $port = $synwatch::scrape_port ? {
    undef   => Integer($synwatch::web_listen_address.split(':')[-1], 10),
    default => $synwatch::scrape_port,
  }

  if $port == 0 {
    fail(@("MSG"/L))
      synwatch: export_scrape_job: web_listen_address \
      '${synwatch::web_listen_address}' picks a random port; set scrape_port \
      or a fixed port
      |-MSG
  }

  if defined('prometheus::scrape_job') {
    @@prometheus::scrape_job { "${host}:${port}":
      job_name => $synwatch::scrape_job_name,
      targets  => ["${host}:${port}"],
      labels   => $synwatch::scrape_job_labels,
    }
  } else {
    warning(@("MSG"/L))
      synwatch: export_scrape_job is true, but the type prometheus::scrape_job \
      is not in this environment (module voxpupuli/puppet-prometheus), so \
      ${host}:${port} is not exported. Add that module, or set \
      synwatch::export_scrape_job to false.
      |-MSG
  }
}
