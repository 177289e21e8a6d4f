# frozen_string_literal: true

# SPDX-License-Identifier: Apache-2.0

# @summary Renders a string, integer, boolean or array as a TOML value.
#
# Strings become TOML basic strings ("..."): backslash and double quote are
# escaped, and so is every control character TOML forbids in a basic string
# (U+0000 to U+001F and U+007F), with the short escapes where TOML has them
# (\b \t \n \f \r) and \uXXXX otherwise. Everything else, including non-ASCII
# UTF-8, is kept as it is.
#
# An empty array renders as `[]`, one element inline (`["auto"]`), and longer
# arrays one element per line with a trailing comma, so that a config error
# that synwatch reports as `FILE:LINE: KEY: reason` points at the very entry.
Puppet::Functions.create_function(:'synwatch::toml_value') do
  # @param value The value to render.
  # @return [String] The TOML text of the value.
  # @example What it returns
  #   synwatch::toml_value('a "b"')  # => "\"a \\\"b\\\"\""
  #   synwatch::toml_value(['x'])    # => "[\"x\"]"
  dispatch :render do
    param 'Variant[String, Integer, Boolean, Array[Variant[String, Integer, Boolean]]]', :value
    return_type 'String'
  end

  def render(value)
    case value
    when String then quote(value)
    when Array then array(value)
    else value.to_s
    end
  end

  private

  def array(values)
    return '[]' if values.empty?
    return "[#{render(values.first)}]" if values.size == 1

    "[\n#{values.map { |v| "  #{render(v)},\n" }.join}]"
  end

  def quote(text)
    text = text.dup.force_encoding(Encoding::UTF_8)
    raise Puppet::ParseError, "synwatch::toml_value: #{text.inspect} is not valid UTF-8" unless text.valid_encoding?

    escaped = text.gsub(%r{["\\\x00-\x1f\x7f]}) do |c|
      case c
      when '"', '\\' then "\\#{c}"
      when "\b" then '\\b'
      when "\t" then '\\t'
      when "\n" then '\\n'
      when "\f" then '\\f'
      when "\r" then '\\r'
      else format('\\u%04X', c.ord)
      end
    end
    %("#{escaped}")
  end
end
