# frozen_string_literal: true

# SPDX-License-Identifier: Apache-2.0

require 'open3'
require 'tempfile'
require 'tomlrb'

module SynwatchSpec
  CONFIG_FILE = '/etc/synwatch/synwatch.toml'
  PACKAGE_DEFAULT_CONFIG = File.expand_path('../image/synwatch.toml', MODULE_ROOT)

  # The rendered config of a compiled catalogue.
  def self.rendered_config(catalogue)
    resource = catalogue.resource('File', CONFIG_FILE)
    raise "#{CONFIG_FILE} is not in the catalogue" if resource.nil?

    resource[:content]
  end

  # Runs `synwatch --check-config` on TOML text with the binary that
  # SYNWATCH_BIN names (the lead's build: build/synwatch). Returns
  # [success, output]; nil when SYNWATCH_BIN is unset.
  def self.check_config(text)
    bin = ENV.fetch('SYNWATCH_BIN', '')
    return nil if bin.empty?
    raise "SYNWATCH_BIN=#{bin} is not an executable file" unless File.file?(bin) && File.executable?(bin)

    Tempfile.create(['synwatch-spec-', '.toml']) do |f|
      f.write(text)
      f.close
      output, status = Open3.capture2e(bin, '--check-config', '--config', f.path)
      [status.success?, output.strip]
    end
  end

  def self.numbered(text)
    text.each_line.with_index(1).map { |line, n| format('%3d  %s', n, line) }.join
  end
end

# Shared check: the config the catalogue renders passes `synwatch --check-config`.
RSpec.shared_examples 'a config synwatch accepts' do
  it 'passes synwatch --check-config' do
    text = SynwatchSpec.rendered_config(catalogue)
    ok, output = SynwatchSpec.check_config(text)
    skip 'SYNWATCH_BIN is unset: point it at a built synwatch (make build: build/synwatch) to run this check' if ok.nil?
    expect(ok).to be(true), "synwatch --check-config rejected the rendered config:\n#{output}\n#{SynwatchSpec.numbered(text)}"
  end
end
