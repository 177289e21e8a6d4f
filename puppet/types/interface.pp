# @summary One entry of `xdp.interfaces`: a Linux interface name, or `auto`.
#
# `auto` means the interfaces that carry default routes and must then be the
# only entry (the class checks that). A name is what the kernel accepts
# (1 to 15 bytes, no whitespace, "/" or ":", not "." or ".."); whether the
# interface exists is checked on the node by `synwatch --check-config`.
#
# @example Values it accepts
#   'auto'
#   'eth0'
#   'bond0.100'
type Synwatch::Interface = Variant[
  Enum['auto'],
  Pattern[/\A(?!\.\.?\z)[^\s\/:]{1,15}\z/],
]
