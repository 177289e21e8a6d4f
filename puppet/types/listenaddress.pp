# @summary The `web.listen_address` of synwatch: `[host]:port`.
#
# The host is empty (every address), an IPv4 literal, or an IPv6 literal in
# brackets. Host names are refused: synwatch binds literals and does not
# resolve names. The port is 0 to 65535 (0 = any free port).
#
# @example Values it accepts
#   ':9632'
#   '127.0.0.1:9632'
#   '[::]:9632'
#   '[2001:db8::1]:9632'
type Synwatch::ListenAddress = Pattern['(?x)\A
  (?<h>[0-9A-Fa-f]{1,4}){0}
  (?<o>25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9]){0}
  (?<v4>\g<o>(?:\.\g<o>){3}){0}
  (?<ls32>\g<h>:\g<h>|\g<v4>){0}
  (?:
      \g<v4>
    | \[
      (?:                             (?:\g<h>:){6}\g<ls32>
        |                           ::(?:\g<h>:){5}\g<ls32>
        | (?:                 \g<h>)? ::(?:\g<h>:){4}\g<ls32>
        | (?:(?:\g<h>:){0,1}\g<h>)? ::(?:\g<h>:){3}\g<ls32>
        | (?:(?:\g<h>:){0,2}\g<h>)? ::(?:\g<h>:){2}\g<ls32>
        | (?:(?:\g<h>:){0,3}\g<h>)? ::\g<h>:\g<ls32>
        | (?:(?:\g<h>:){0,4}\g<h>)? ::\g<ls32>
        | (?:(?:\g<h>:){0,5}\g<h>)? ::\g<h>
        | (?:(?:\g<h>:){0,6}\g<h>)? ::
      )
      \]
  )?
  :(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0)
  \z']
