# @summary A synwatch log level, most to least verbose.
type Synwatch::LogLevel = Enum['trace', 'debug', 'info', 'warn', 'error']
