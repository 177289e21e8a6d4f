# @summary The HTTP path metrics are served on, as synwatch accepts it.
#
# Starts with "/", is not "/" itself (the landing page), is not under "/-/"
# (health and readiness checks), and is a plain URL path: visible ASCII
# without "?", "#" or "%".
#
# @example Values it accepts
#   '/metrics'
type Synwatch::MetricsPath = Pattern[/\A\/(?!-\/)[!-~&&[^?#%]]+\z/]
