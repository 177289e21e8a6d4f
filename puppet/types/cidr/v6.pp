# @summary An IPv6 address or prefix, in any RFC 4291 text form.
#
# Full, "::"-compressed and IPv4-embedded forms ("64:ff9b::192.0.2.1") are
# accepted, optionally followed by "/0" to "/128". Zone indexes ("%eth0") are
# not. IPv4-mapped addresses (::ffff:0:0/96) and host bits past the prefix are
# caught by the class, which names the fix.
#
# The pattern follows the ABNF of RFC 3986 section 3.2.2, one line per
# alternative; `h` is one 16-bit group, `ls32` the last 32 bits.
#
# @example Values it accepts
#   '2001:db8::/32'
#   '2001:db8:1:2::1'
type Synwatch::Cidr::V6 = Pattern['(?x)\A
  (?<h>[0-9A-Fa-f]{1,4}){0}
  (?<o>25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9]){0}
  (?<ls32>\g<h>:\g<h>|\g<o>(?:\.\g<o>){3}){0}
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
  (?:/(?:12[0-8]|1[01][0-9]|[1-9]?[0-9]))?
  \z']
