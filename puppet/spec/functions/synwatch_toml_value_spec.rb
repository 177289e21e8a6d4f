# frozen_string_literal: true

# SPDX-License-Identifier: Apache-2.0

require 'spec_helper'

describe 'synwatch::toml_value' do
  it { is_expected.to run.with_params('plain').and_return('"plain"') }
  it { is_expected.to run.with_params('').and_return('""') }
  it { is_expected.to run.with_params('a "b" c\\d').and_return('"a \\"b\\" c\\\\d"') }
  it { is_expected.to run.with_params("t\tn\nr\rb\bf\f").and_return('"t\\tn\\nr\\rb\\bf\\f"') }
  it { is_expected.to run.with_params("nul\u0000 esc\u001b del\u007f").and_return('"nul\\u0000 esc\\u001B del\\u007F"') }
  it { is_expected.to run.with_params("caf\u00e9 \u{1f600}").and_return("\"caf\u00e9 \u{1f600}\"") }
  it { is_expected.to run.with_params(65_536).and_return('65536') }
  it { is_expected.to run.with_params(true).and_return('true') }
  it { is_expected.to run.with_params(false).and_return('false') }
  it { is_expected.to run.with_params([]).and_return('[]') }
  it { is_expected.to run.with_params(['auto']).and_return('["auto"]') }
  it { is_expected.to run.with_params(['a', 'b"']).and_return("[\n  \"a\",\n  \"b\\\"\",\n]") }
  it { is_expected.to run.with_params(1.5).and_raise_error(ArgumentError, %r{expects a value of type String, Integer, Boolean, or Array}) }

  it 'round-trips every character from U+0000 to U+00FF through a TOML parser' do
    text = (0..0xff).map { |c| [c].pack('U') }.join
    rendered = subject.execute(text)
    expect(Tomlrb.parse("k = #{rendered}\n")['k']).to eq(text)
  end
end
