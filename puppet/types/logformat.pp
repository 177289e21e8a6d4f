# @summary The synwatch log format: plain `text` for the journal, or `json` lines.
type Synwatch::LogFormat = Enum['text', 'json']
