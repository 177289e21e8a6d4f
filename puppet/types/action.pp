# @summary What happens to a SYN: `pass` it on or `drop` it.
type Synwatch::Action = Enum['pass', 'drop']
