// SPDX-License-Identifier: Apache-2.0
// spdlog set-up (text or JSON lines on stderr, for journald) and libbpf's
// own messages routed into it one level down.
#pragma once

namespace synwatch {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError };
enum class LogFormat { kText, kJson };

void SetUpLogging(LogFormat format, LogLevel level);
void SetLogLevel(LogLevel level);

}  // namespace synwatch
