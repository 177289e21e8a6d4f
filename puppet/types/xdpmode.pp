# @summary How the XDP program is attached.
#
# `auto` tries native (driver) mode and falls back to generic (skb) mode;
# `native` and `generic` insist on one.
type Synwatch::XdpMode = Enum['auto', 'native', 'generic']
