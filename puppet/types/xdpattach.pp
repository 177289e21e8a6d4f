# @summary How synwatch's XDP program joins an interface.
#
# `direct`: it is the interface's one XDP program; `dispatcher`: it runs in
# libxdp's multi-program dispatcher beside other libxdp programs.
type Synwatch::XdpAttach = Enum['direct', 'dispatcher']
