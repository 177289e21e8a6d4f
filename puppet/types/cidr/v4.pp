# @summary An IPv4 address or prefix in the strict form synwatch reads.
#
# A dotted quad of four decimal parts without leading zeros (other tools read
# "010" as octal), optionally followed by "/0" to "/32". Host bits past the
# prefix ("192.0.2.1/24") are caught by the class, which names the fix.
#
# @example Values it accepts
#   '192.0.2.0/24'
#   '198.51.100.7'
type Synwatch::Cidr::V4 = Pattern['(?x)\A
  (?<o>25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9]){0}
  \g<o>(?:\.\g<o>){3}
  (?:/(?:3[0-2]|[12][0-9]|[0-9]))?
  \z']
