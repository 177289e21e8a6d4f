# Install synwatch with its defaults (dry run: counts, never drops), plus
# whatever Hiera says for this node. With examples/hiera/ as the environment's
# hiera.yaml, an agent whose certificate has pp_role=edge also drops denied SYNs.
#
#   puppet apply --modulepath=MODULES examples/init.pp
include synwatch
