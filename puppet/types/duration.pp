# @summary A duration in the Prometheus/Go style synwatch reads.
#
# One or more `<integer><unit>` parts, largest unit first and each unit at
# most once: `d`, `h`, `m`, `s`, `ms`. "0s" is a valid duration.
#
# @example Values it accepts
#   '60s'
#   '10m'
#   '1h30m'
#   '500ms'
type Synwatch::Duration = Pattern[/\A(?=[0-9])(?:[0-9]+d)?(?:[0-9]+h)?(?:[0-9]+m)?(?:[0-9]+s)?(?:[0-9]+ms)?\z/]
