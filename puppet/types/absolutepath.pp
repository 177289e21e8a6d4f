# @summary An absolute path on the node, as synwatch reads it from its config.
type Synwatch::AbsolutePath = Pattern[/\A\/[^\x00]*\z/]
