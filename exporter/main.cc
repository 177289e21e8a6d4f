// SPDX-License-Identifier: Apache-2.0
// synwatch: config -> BPF lifecycle -> collectors -> HTTP -> wait for signals.
// main wires the rooms (docs/architecture.md, "The rooms"): xdp/ and web/
// never see each other; what one needs of the other is handed over here.
// Start-up errors are exceptions, caught here: one line and exit 1
// (docs/architecture.md, "Errors").
#include <bpf/libbpf.h>
#include <getopt.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/logging.h"
#include "config/config.h"
#include "crowdsec/bouncer.h"
#include "crowdsec/lapi_client.h"
#include "crowdsec/reporter.h"
#include "metrics/collector.h"
#include "metrics/process_collector.h"
#include "metrics/recent_scans.h"
#include "metrics/status_page.h"
#include "version.h"
#include "web/http_server.h"
#include "web/web_config.h"
#include "xdp/bpf_program.h"
#include "xdp/events.h"
#include "xdp/interfaces.h"
#include "xdp/libbpf_log.h"
#include "xdp/map_reader.h"
#include "xdp/pinning.h"
#include "xdp/privileges.h"

namespace synwatch {
namespace {

constexpr char kDefaultConfigPath[] = "/etc/synwatch/synwatch.toml";

constexpr char kUsage[] = R"(Usage: synwatch [OPTIONS]

Counts new TCP connection attempts (SYN without ACK) at XDP, applies allow/deny
rules, and serves the counts to Prometheus.

Options:
  --config FILE              config file (default /etc/synwatch/synwatch.toml;
                             built-in defaults if that file does not exist)
  --check-config             validate the config, print the first error as
                             FILE:LINE: KEY: reason, exit 0 (valid) or 1
  --print-default-config     print the commented default config and exit
  --detach                   detach and remove the XDP links and maps pinned
                             under xdp.pin_path, then exit
  --web.listen-address ADDR  override web.listen_address (e.g. :9632)
  --web.config.file FILE     override web.config_file
  --interface NAME           override xdp.interfaces (repeatable)
  --log.level LEVEL          override log.level (trace|debug|info|warn|error)
  --version                  print version information and exit
  -h, --help                 this help

Signals: SIGHUP reloads the config; SIGTERM and SIGINT exit cleanly.
)";

struct Options {
  std::optional<std::string> config_path;
  bool check_config = false;
  bool print_default_config = false;
  bool detach = false;
  bool version = false;
  std::optional<std::string> listen_address;
  std::optional<std::string> web_config_file;
  std::vector<std::string> interfaces;
  std::optional<std::string> log_level;
};

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

Options ParseOptions(int argc, char** argv) {
  enum {
    kConfig = 256,
    kCheckConfig,
    kPrintDefault,
    kDetach,
    kVersion,
    kListen,
    kWebConfig,
    kInterface,
    kLogLevel,
  };
  static const option kLong[] = {
      {"config", required_argument, nullptr, kConfig},
      {"check-config", no_argument, nullptr, kCheckConfig},
      {"print-default-config", no_argument, nullptr, kPrintDefault},
      {"detach", no_argument, nullptr, kDetach},
      {"version", no_argument, nullptr, kVersion},
      {"web.listen-address", required_argument, nullptr, kListen},
      {"web.config.file", required_argument, nullptr, kWebConfig},
      {"interface", required_argument, nullptr, kInterface},
      {"log.level", required_argument, nullptr, kLogLevel},
      {"help", no_argument, nullptr, 'h'},
      {nullptr, 0, nullptr, 0},
  };
  Options o;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "h", kLong, nullptr)) != -1) {
    switch (c) {
      case kConfig:
        o.config_path = optarg;
        break;
      case kCheckConfig:
        o.check_config = true;
        break;
      case kPrintDefault:
        o.print_default_config = true;
        break;
      case kDetach:
        o.detach = true;
        break;
      case kVersion:
        o.version = true;
        break;
      case kListen:
        o.listen_address = optarg;
        break;
      case kWebConfig:
        o.web_config_file = optarg;
        break;
      case kInterface:
        o.interfaces.emplace_back(optarg);
        break;
      case kLogLevel:
        o.log_level = optarg;
        break;
      case 'h':
        std::fputs(kUsage, stdout);
        std::exit(0);
      default:
        throw UsageError(
            std::string("unknown or incomplete option ") +
            (optind > 0 && optind <= argc ? argv[optind - 1] : "") +
            " (see --help)");
    }
  }
  if (optind < argc) {
    throw UsageError(std::string("unexpected argument ") + argv[optind] +
                     " (see --help)");
  }
  return o;
}

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// The config in force: the file (or built-in defaults when the default path
// does not exist), then the command-line overrides.
Config LoadEffectiveConfig(const Options& o) {
  Config config;
  const std::string path = o.config_path.value_or(kDefaultConfigPath);
  if (o.config_path || FileExists(path)) {
    config = LoadConfig(path);
  }
  // Flags get the same checks and messages as the keys they override.
  std::string error;
  if (o.listen_address) {
    ListenAddress parsed;
    if (!ParseListenAddress(*o.listen_address, &parsed, &error)) {
      throw ConfigError("--web.listen-address " + *o.listen_address + ": " +
                        error);
    }
    config.web.listen_address = std::move(parsed);
  }
  if (o.web_config_file) config.web.config_file = *o.web_config_file;
  if (!o.interfaces.empty()) {
    if (!ValidateInterfaces(o.interfaces, SystemInterfaceExists, &error)) {
      throw ConfigError("--interface: " + error);
    }
    config.xdp.interfaces = o.interfaces;
  }
  if (o.log_level && !ParseLogLevel(*o.log_level, &config.log.level)) {
    throw ConfigError("--log.level " + *o.log_level +
                      ": expected trace, debug, info, warn or error");
  }
  return config;
}

std::string ConfigSource(const Options& o) {
  const std::string path = o.config_path.value_or(kDefaultConfigPath);
  return o.config_path || FileExists(path) ? path : "built-in defaults";
}

std::string LibbpfVersion() {
  return std::to_string(libbpf_major_version()) + "." +
         std::to_string(libbpf_minor_version());
}

double UnixNow() {
  return std::chrono::duration<double>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Publish(const Config& config, ExporterState& state) {
  state.dry_run = config.rules.dry_run;
  state.allow_rules = static_cast<uint32_t>(config.rules.allow.size());
  state.deny_rules = static_cast<uint32_t>(config.rules.deny.size());
  state.scan_window_ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          config.port_scan.window)
          .count());
}

void LogWebConfig(const Config& config, const WebSecurityConfig& web) {
  spdlog::info("Web config {}: TLS is {}, basic auth is {} ({} users)",
               config.web.config_file.empty() ? "\"\"" : config.web.config_file,
               web.tls_enabled ? "enabled" : "disabled",
               web.basic_auth_users.empty() ? "off" : "on",
               web.basic_auth_users.size());
}

// --detach: unpin every link and map synwatch pinned under xdp.pin_path.
int Detach(const Options& options) {
  // synwatch's programs in libxdp dispatchers, whatever xdp.attach says
  // now: the other programs there stay.
  if (const int n = DetachFromDispatchers(); n > 0) {
    std::printf(
        "synwatch: detached %d program(s) from libxdp dispatchers (other "
        "programs there keep running)\n",
        n);
  }
  std::string pin_path = XdpConfig{}.pin_path;
  try {
    pin_path = LoadEffectiveConfig(options).xdp.pin_path;
  } catch (const std::exception& e) {
    // A purge must still clean up: fall back to the default location.
    std::fprintf(stderr, "synwatch: %s; detaching from the default %s\n",
                 e.what(), pin_path.c_str());
  }
  if (pin_path.empty()) {
    std::printf(
        "synwatch: xdp.pin_path is \"\": nothing is pinned (links end with "
        "the process)\n");
    return 0;
  }
  const DetachReport r = DetachPinned(pin_path);
  if (!r.existed) {
    std::printf("synwatch: nothing pinned at %s\n", pin_path.c_str());
    return 0;
  }
  std::printf("synwatch: detached %d XDP link(s) and removed %d map(s) from %s",
              r.links, r.maps, pin_path.c_str());
  if (!r.left.empty()) {
    std::string left;
    for (const auto& name : r.left) left += (left.empty() ? "" : ", ") + name;
    std::printf("; left alone (not synwatch's): %s", left.c_str());
  }
  std::printf("\n");
  return 0;
}

// Applies a new config to the running daemon: rules and knobs first (one
// atomic switch), then interfaces, then the web config (re-read even when
// unchanged: certificates get renewed in place), then the log level.
// Returns false and keeps the running config when anything fails.
bool Reload(const Options& options, BpfProgram& program,
            InterfaceManager& interfaces, HttpServer& server, Config& running,
            ExporterState& state) {
  Config next;
  WebSecurityConfig next_web;
  try {
    next = LoadEffectiveConfig(options);
    next_web = LoadWebConfig(next.web.config_file);
  } catch (const std::exception& e) {
    spdlog::error("Reload failed, keeping the running config: {}", e.what());
    state.last_reload_ok = false;
    return false;
  }
  if (next.crowdsec != running.crowdsec) {
    spdlog::warn("Reload: [crowdsec] takes effect at the next restart");
    next.crowdsec = running.crowdsec;
  }
  if (next.peers.max_entries != running.peers.max_entries ||
      next.port_scan.max_tracked_peers != running.port_scan.max_tracked_peers ||
      next.port_scan.max_blocked_peers != running.port_scan.max_blocked_peers ||
      next.xdp.pin_path != running.xdp.pin_path ||
      next.xdp.attach != running.xdp.attach ||
      next.xdp.run_priority != running.xdp.run_priority ||
      next.web.listen_address != running.web.listen_address ||
      next.web.metrics_path != running.web.metrics_path ||
      next.log.format != running.log.format) {
    spdlog::warn(
        "Reload: table sizes (peers.max_entries, port_scan.max_*_peers), "
        "xdp.pin_path, xdp.attach, xdp.run_priority, web.listen_address, "
        "web.metrics_path and log.format "
        "take effect at the next restart; "
        "everything else is applied now");
  }
  try {
    program.ApplyPolicy(PolicyFromConfig(next));
  } catch (const std::exception& e) {
    spdlog::error("Reload failed, keeping the running config: {}", e.what());
    state.last_reload_ok = false;
    return false;
  }
  try {
    interfaces.Apply(next.xdp.interfaces, next.xdp.mode);
  } catch (const std::exception& e) {
    spdlog::error("Reload failed, keeping the running config: {}", e.what());
    program.ApplyPolicy(PolicyFromConfig(running));
    state.last_reload_ok = false;
    return false;
  }
  try {
    server.UpdateWebConfig(next_web);
  } catch (const std::exception& e) {
    spdlog::error("Reload failed, keeping the running config: {}", e.what());
    try {
      interfaces.Apply(running.xdp.interfaces, running.xdp.mode);
      program.ApplyPolicy(PolicyFromConfig(running));
    } catch (const std::exception& undo) {
      spdlog::error("Reload: restoring the running rules: {}", undo.what());
    }
    state.last_reload_ok = false;
    return false;
  }
  LogWebConfig(next, next_web);
  SetLogLevel(next.log.level);
  const uint32_t keep_max = running.peers.max_entries;
  const uint32_t keep_tracked = running.port_scan.max_tracked_peers;
  const uint32_t keep_blocked = running.port_scan.max_blocked_peers;
  const auto keep_web = running.web;
  const auto keep_pin_path = running.xdp.pin_path;
  const auto keep_attach = running.xdp.attach;
  const auto keep_run_priority = running.xdp.run_priority;
  const auto keep_format = running.log.format;
  running = next;
  running.peers.max_entries = keep_max;
  running.port_scan.max_tracked_peers = keep_tracked;
  running.port_scan.max_blocked_peers = keep_blocked;
  running.web = keep_web;
  running.web.config_file = next.web.config_file;
  running.xdp.pin_path = keep_pin_path;
  running.xdp.attach = keep_attach;
  running.xdp.run_priority = keep_run_priority;
  running.log.format = keep_format;
  Publish(running, state);
  state.last_reload_ok = true;
  state.last_reload_success_time = UnixNow();
  spdlog::info(
      "Reloaded config from {}: {} allow and {} deny rules, dry_run={}",
      ConfigSource(options), running.rules.allow.size(),
      running.rules.deny.size(), running.rules.dry_run);
  return true;
}

int Run(const Options& options) {
  if (options.version) {
    std::printf("synwatch %s (revision %s, libbpf %s)\n", kVersion, kRevision,
                LibbpfVersion().c_str());
    return 0;
  }
  if (options.print_default_config) {
    std::fputs(kDefaultConfigText, stdout);
    return 0;
  }
  if (options.check_config) {
    try {
      Config config = LoadEffectiveConfig(options);
      LoadWebConfig(config.web.config_file);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return 1;
    }
    std::printf("%s: OK\n", ConfigSource(options).c_str());
    return 0;
  }
  if (options.detach) return Detach(options);

  // Signals are blocked before any thread starts (the HTTP server's), so
  // only sigwait below ever sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Config config = LoadEffectiveConfig(options);
  // Read before anything is attached: a bad web config exits at once.
  const WebSecurityConfig web = LoadWebConfig(config.web.config_file);
  // Likewise the reporter's password (its file's mode is checked).
  const std::string machine_password =
      config.crowdsec.report
          ? ReadMachinePassword(config.crowdsec.machine_password_file)
          : std::string();
  SetUpLogging(config.log.format, config.log.level);
  RouteLibbpfLog();
  spdlog::info("Starting synwatch {} (revision {}, libbpf {}), config: {}",
               kVersion, kRevision, LibbpfVersion(), ConfigSource(options));

  ExporterState state;
  BpfProgram program(MapSizesFromConfig(config),
                     PinDir::Open(config.xdp.pin_path));
  if (config.xdp.attach == XdpAttach::kDispatcher) {
    program.UseDispatcher(config.xdp.run_priority);
  }
  program.ApplyPolicy(PolicyFromConfig(config));
  LinkWatcher link_events;  // before attaching: no link event goes unseen
  InterfaceManager interfaces(program);
  interfaces.Apply(config.xdp.interfaces, config.xdp.mode);
  program.Activate();
  program.ReleaseUnclaimedLinks();
  // Loaded, pinned and attached: keep only what reloads, scrapes and
  // re-attaching use. Before any thread starts, so all of them inherit it.
  try {
    const uint64_t libxdp = LibxdpCapabilities(config.xdp.attach);
    const std::string dropped =
        DropCapabilitiesExcept(RuntimeCapabilities(), libxdp);
    const CapabilitySets now = CurrentCapabilities();
    spdlog::info("Capabilities now {} (dropped: {})",
                 CapabilityNames(now.effective),
                 dropped.empty() ? "none" : dropped);
    if ((now.permitted & libxdp) != 0) {
      spdlog::info("Kept permitted, raised only around calls into libxdp: {}",
                   CapabilityNames(now.permitted & libxdp));
    }
  } catch (const std::exception& e) {
    // A seccomp filter without capset(2), for one: keep running, loudly.
    spdlog::warn("Could not drop capabilities, keeping {}: {}",
                 CapabilityNames(CurrentCapabilities().effective), e.what());
  }
  if (config.xdp.pin_path.empty()) {
    spdlog::info("xdp.pin_path is \"\": nothing pinned, exiting detaches");
  } else if (program.pins().lifetime() == PinLifetime::kOutlivesProcess) {
    spdlog::info("{}", program.pins().LifetimeText());
  } else {
    spdlog::warn("{}", program.pins().LifetimeText());
  }
  Publish(config, state);
  state.last_reload_success_time = UnixNow();

  // The readers take a copy of the interfaces when they need one, never the
  // manager itself.
  const InterfaceSnapshot interface_snapshot = [&interfaces] {
    return interfaces.Snapshot();
  };
  RecentScans recent_scans;
  // The CrowdSec reporter, before the event reader that feeds it: scans
  // become alerts, queued here and sent by its own thread.
  std::unique_ptr<LapiClient> report_lapi;
  std::unique_ptr<Reporter> reporter;
  // peers.ipv4_prefix_length << 8 | ipv6_prefix_length, as in force.
  const auto pack_prefixes = [](const PeersConfig& p) {
    return static_cast<uint16_t>(p.ipv4_prefix_length << 8 |
                                 p.ipv6_prefix_length);
  };
  std::atomic<uint16_t> scan_prefixes{pack_prefixes(config.peers)};
  EventReader::ScanSink on_scan;
  if (config.crowdsec.report) {
    // The bouncer's credentials stay out of the machine's requests: a
    // client certificate would make the LAPI authenticate the login by its
    // OU (a bouncer's) instead of the password.
    CrowdsecConfig machine = config.crowdsec;
    machine.api_key.clear();
    machine.api_key_file.clear();
    machine.cert_file.clear();
    machine.key_file.clear();
    report_lapi = std::make_unique<LapiClient>(
        machine, std::string("synwatch/v") + kVersion);
    ReportSettings settings;
    settings.machine_id = config.crowdsec.machine_id;
    settings.capacity = config.port_scan.max_ports;
    settings.window = config.port_scan.window;
    settings.max_queued = config.crowdsec.report_queue_size;
    LapiClient* client = report_lapi.get();
    reporter = std::make_unique<Reporter>(
        settings, machine_password,
        [client](const std::string& path, const std::string& json,
                 const std::string& token) {
          return client->Post(path, json, token, std::chrono::seconds(30));
        },
        Reporter::UnixNowSeconds, [client] { client->Cancel(); });
    Reporter* sink = reporter.get();
    // dry_run and the peer prefix lengths (what a scan is tracked by)
    // follow a reload.
    const std::atomic<bool>* dry_run = &state.dry_run;
    const std::atomic<uint16_t>* prefixes = &scan_prefixes;
    on_scan = [sink, dry_run, prefixes](const sw_event& event,
                                        const std::string& ifname) {
      PeersConfig peers;
      const uint16_t lengths = prefixes->load();
      peers.ipv4_prefix_length = static_cast<uint8_t>(lengths >> 8);
      peers.ipv6_prefix_length = static_cast<uint8_t>(lengths & 0xff);
      sink->Enqueue(ScanReportFromEvent(
          event, ifname, peers, Reporter::UnixNowSeconds(), dry_run->load()));
    };
    spdlog::info("CrowdSec reporter: port scans to {} as machine {}",
                 config.crowdsec.lapi_url, config.crowdsec.machine_id);
    reporter->Start();
  }
  EventReader events(program.events_fd(), interface_snapshot,
                     config.log.connections_per_second,
                     state.events_dropped_rate_limit, &recent_scans, on_scan);

  MapRowSource::Maps maps;
  maps.if_stats_fd = program.if_stats_fd();
  maps.peers_fd = program.peers_fd();
  maps.scan_track_fd = program.scan_track_fd();
  maps.blocked_fd = program.blocked_fd();
  maps.flood_fd = program.flood_fd();
  if (config.crowdsec.enabled) {
    maps.origin_syns_fd = program.origin_syns_fd();
    maps.origin_names_fd = program.origin_names_fd();
  }
  maps.peers_capacity = program.sizes().peers;
  maps.scan_track_capacity = program.sizes().scan_track;
  maps.blocked_capacity = program.sizes().blocked;
  maps.scan_window_ms = &state.scan_window_ms;
  MapRowSource rows(maps, interface_snapshot);
  auto collector = std::make_shared<SynwatchCollector>(
      rows, state, BuildInfo{kVersion, kRevision, LibbpfVersion()});
  auto process = std::make_shared<ProcessCollector>();
  // The CrowdSec bouncer: its thread starts after the signals are blocked.
  std::unique_ptr<LapiClient> lapi;
  std::unique_ptr<KernelDecisionTable> decision_table;
  std::unique_ptr<Bouncer> bouncer;
  if (config.crowdsec.enabled) {
    lapi = std::make_unique<LapiClient>(
        config.crowdsec, std::string("crowdsec-synwatch-bouncer/v") + kVersion);
    DecisionMapFds fds;
    fds.ranges = program.decisions_fd();
    fds.hosts = program.decision_hosts_fd();
    fds.epochs = program.decision_epochs_fd();
    fds.names = program.origin_names_fd();
    decision_table = std::make_unique<KernelDecisionTable>(fds);
    LapiClient* client = lapi.get();
    const auto timeout = std::chrono::seconds(
        std::max<int64_t>(30, std::chrono::duration_cast<std::chrono::seconds>(
                                  config.crowdsec.update_interval)
                                  .count()));
    bouncer = std::make_unique<Bouncer>(
        config.crowdsec,
        [client, timeout](bool startup) {
          return client->Stream(startup, timeout);
        },
        decision_table.get(), Bouncer::MonotonicNs,
        [client] { client->Cancel(); });
    spdlog::info("CrowdSec bouncer: polling {} every {}",
                 client->StreamUrl(false),
                 FormatDuration(config.crowdsec.update_interval));
    bouncer->Start();
  }
  const Bouncer* fleet = bouncer.get();
  const Reporter* alerts = reporter.get();
  HttpStats http_stats;
  Gatherer gather = [collector, process, &http_stats, fleet, alerts](
                        ExpositionFormat format, std::string& out) {
    collector->Write(format, out);
    if (fleet != nullptr) AppendFamilies(fleet->Collect(), format, out);
    if (alerts != nullptr) AppendFamilies(alerts->Collect(), format, out);
    AppendFamilies(process->Collect(), format, out);
    AppendFamilies(CollectHttpStats(http_stats), format, out);
    AppendEnd(format, out);
  };

  StatusExtras status_extras;
  if (fleet != nullptr) status_extras = [fleet] { return fleet->Status(); };
  const StatusPage status_page(rows, state, recent_scans, kVersion,
                               config.web.metrics_path, status_extras);
  HttpServer server(
      {config.web.listen_address, config.web.metrics_path, kVersion, web,
       &http_stats, [&status_page] { return status_page.Render(); }},
      gather, [&interfaces] { return interfaces.AllAttached(); });
  LogWebConfig(config, web);
  spdlog::info("Listening on {} (metrics at {})",
               config.web.listen_address.text, config.web.metrics_path);

  // One thread waits for signals and link events; nothing polls on a timer.
  UniqueFd signal_fd(signalfd(-1, &signals, SFD_CLOEXEC));
  if (!signal_fd.valid()) {
    throw std::runtime_error(std::string("signalfd: ") + std::strerror(errno));
  }
  for (;;) {
    pollfd fds[] = {{signal_fd.get(), POLLIN, 0},
                    {link_events.fd(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
    }
    if ((fds[1].revents & POLLIN) != 0 && link_events.Drain()) {
      interfaces.Reconcile();
    }
    if ((fds[0].revents & POLLIN) == 0) continue;
    signalfd_siginfo info{};
    if (read(signal_fd.get(), &info, sizeof(info)) != sizeof(info)) continue;
    if (info.ssi_signo == SIGHUP) {
      spdlog::info("SIGHUP: reloading config");
      if (Reload(options, program, interfaces, server, config, state)) {
        events.SetConnectionsPerSecond(config.log.connections_per_second);
        scan_prefixes = pack_prefixes(config.peers);
      }
      continue;
    }
    spdlog::info("{}: shutting down",
                 info.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
    break;
  }
  return 0;
}

}  // namespace
}  // namespace synwatch

int main(int argc, char** argv) {
  // A scrape allocates and frees blocks of megabytes (peer rows, map reads,
  // the text). glibc raises its mmap threshold after the first such block
  // is freed, and from then on keeps them in each worker thread's heap:
  // tens of MB stay resident after a scrape. A fixed threshold returns
  // every block over 256 KiB to the kernel when it is freed; the response
  // buffers that are worth keeping are kept on purpose (http_server.cc).
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  try {
    return synwatch::Run(synwatch::ParseOptions(argc, argv));
  } catch (const synwatch::UsageError& e) {
    std::fprintf(stderr, "synwatch: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "synwatch: %s\n", e.what());
    return 1;
  }
}
