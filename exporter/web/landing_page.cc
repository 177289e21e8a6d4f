// SPDX-License-Identifier: Apache-2.0
#include "web/landing_page.h"

#include <string>
#include <string_view>

#include "base/text.h"

namespace synwatch {
namespace {

// Links are relative ("./metrics") so the page still works behind a
// reverse proxy that mounts the exporter under a path prefix.
void AppendLink(std::string& out, std::string_view path,
                std::string_view text) {
  out += "<li><a href=\".";
  AppendHtmlText(out, path);
  out += "\">";
  AppendHtmlText(out, text);
  out += "</a></li>\n";
}

}  // namespace

std::string LandingPage(std::string_view metrics_path,
                        std::string_view version) {
  std::string page =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>synwatch</title>\n</head>\n<body>\n<h1>synwatch</h1>\n"
      "<p>Counts TCP connection attempts (SYNs) at XDP, per peer and rule "
      "outcome.</p>\n<ul>\n";
  AppendLink(page, metrics_path, "Metrics");
  AppendLink(page, "/-/healthy", "Health");
  AppendLink(page, "/-/ready", "Readiness");
  page += "</ul>\n<p>Version: ";
  AppendHtmlText(page, version.empty() ? std::string_view("unknown") : version);
  page += "</p>\n</body>\n</html>\n";
  return page;
}

}  // namespace synwatch
