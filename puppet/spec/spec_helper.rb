# frozen_string_literal: true

# SPDX-License-Identifier: Apache-2.0
#
# rspec-puppet set-up that works offline with Debian's packages only
# (ruby-rspec-puppet, puppet 7): no rubygems, no Forge, no .fixtures.yml.
#
# * The modulepath is a temporary directory holding a `synwatch` link to this
#   module, so nothing is written into the work tree. Optional modules (a
#   stand-in for voxpupuli's prometheus::scrape_job) are added per example
#   group with `with_fixture_modules`.
# * Debian's FacterDB has no Debian 12 facts, so `on_supported_os` reads the
#   OSes from metadata.json and their facts from spec/fixtures/facts/, and
#   raises when either is missing: the suite can never pass by running no
#   example.

require 'json'
require 'tmpdir'
require 'fileutils'
require 'rspec-puppet'

module SynwatchSpec
  MODULE_ROOT = File.expand_path('..', __dir__)
  FIXTURES = File.join(__dir__, 'fixtures')

  MODULEPATH = Dir.mktmpdir('synwatch-modulepath-')
  File.symlink(MODULE_ROOT, File.join(MODULEPATH, 'synwatch'))
  at_exit { FileUtils.rm_rf(MODULEPATH) }

  # Fixture modules that some example groups add to the modulepath.
  FIXTURE_MODULES = File.join(FIXTURES, 'modules')

  # { 'debian-12-x86_64' => facts } for every OS release in metadata.json.
  def self.supported_os_facts
    metadata = JSON.parse(File.read(File.join(MODULE_ROOT, 'metadata.json')))
    support = metadata.fetch('operatingsystem_support', [])
    result = {}
    support.each do |entry|
      os = entry.fetch('operatingsystem').downcase
      entry.fetch('operatingsystemrelease', []).each do |release|
        file = File.join(FIXTURES, 'facts', "#{os}-#{release}.json")
        raise "metadata.json supports #{os} #{release} but #{file} is missing" unless File.file?(file)

        facts = JSON.parse(File.read(file)).reject { |key, _| key.start_with?('_') }
        result["#{os}-#{release}-#{facts.fetch('os').fetch('hardware')}"] = facts
      end
    end
    raise 'metadata.json lists no operatingsystem_support: no example would run' if result.empty?

    result
  end

  # The facts of the first supported OS, for specs that do not depend on it.
  def self.default_facts
    supported_os_facts.values.first
  end
end

def on_supported_os
  SynwatchSpec.supported_os_facts
end

RSpec.configure do |c|
  c.module_path = SynwatchSpec::MODULEPATH
  c.setup_fixtures = false
  c.hiera_config = File.join(SynwatchSpec::FIXTURES, 'hiera', 'empty.yaml')
  c.strict_variables = true
  c.fail_if_no_examples = true
  c.default_facts = SynwatchSpec.default_facts
  c.before(:each) { Puppet[:strict] = :error }
end

# Puts the named modules of spec/fixtures/modules on the modulepath for the
# examples of the calling group. rspec-puppet reads the modulepath from the
# global configuration, so it is swapped around each example.
def with_fixture_modules(*names)
  around(:each) do |example|
    dir = Dir.mktmpdir('synwatch-fixture-modules-')
    names.each { |n| File.symlink(File.join(SynwatchSpec::FIXTURE_MODULES, n), File.join(dir, n)) }
    saved = RSpec.configuration.module_path
    RSpec.configuration.module_path = [saved, dir].join(File::PATH_SEPARATOR)
    begin
      example.run
    ensure
      RSpec.configuration.module_path = saved
      FileUtils.rm_rf(dir)
    end
  end
end

require_relative 'support/synwatch_helpers'
