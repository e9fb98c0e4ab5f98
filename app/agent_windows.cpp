// `proctrack run` in the Windows build: the console agent (docs/windows.md).
// The Windows process list (actors/winpslist/, synced every
// tracker.sync-period) feeds the cache; the output stream goes to stdout
// (or output.path), stats rows with it, and to a collector when
// forward.connect is set. Ctrl-C, Ctrl-Break, closing the console or a
// service stop end it. Started by the Service Control Manager (`sc.exe
// create proctrack binPath= "...\proctrack.exe run ..."`), it runs as the
// service: the SCM's dispatcher is tried first and fails at once in a
// console. Live events come from Sysmon over ETW (actors/etw/): at start
// the agent checks that Sysmon runs (tracker.sysmon-file-location) and
// starts the ETW session, and exits 2 saying what to install or to use
// --tracker.sources=pslist when either fails; ETW's lost events trigger a
// pslist sync at once. What the Linux agent has and this one has not yet:
// the local query socket (a Unix socket) and the TCP query endpoint (its
// listener guard is POSIX-socket code), the history store (SQLite).
#include "app/agent_start.hpp"
#include "app/commands.hpp"
#include "app/config.hpp"

#include "actors/enricher/enricher.hpp"
#include "actors/etw/etw_source.hpp"
#include "actors/etw/sysmon_presence.hpp"
#include "actors/forward/forwarder.hpp"
#include "actors/live/pslist_sync.hpp"
#include "actors/output/output_writer.hpp"
#include "actors/stats/stats_publisher.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <spdlog/spdlog.h>

#include <windows.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

namespace proctrack {

namespace {

int fail(const std::string &msg) {
  std::fprintf(stderr, "proctrack run: %s\n", msg.c_str());
  return 2;
}

// The console's stop events, handed to the main thread (the handler runs on
// a thread of its own; returning TRUE from it keeps the process alive until
// the main thread is done).
std::mutex stop_mutex;
std::condition_variable stop_cv;
DWORD stop_event = ~DWORD{0};

BOOL WINAPI on_console_event(DWORD event) {
  {
    std::lock_guard<std::mutex> guard{stop_mutex};
    stop_event = event;
  }
  stop_cv.notify_all();
  // The system kills the process once the handler returns for a close,
  // logoff or shutdown event: give the main thread time to flush.
  if (event == CTRL_CLOSE_EVENT || event == CTRL_LOGOFF_EVENT
      || event == CTRL_SHUTDOWN_EVENT)
    Sleep(3000);
  return TRUE;
}

int run_console_agent(const command_line &cl);

// -- as a service ----------------------------------------------------------

const command_line *service_args = nullptr;
SERVICE_STATUS_HANDLE service_handle = nullptr;
SERVICE_STATUS service_status{};

void report_service(DWORD state, DWORD exit_code = NO_ERROR) {
  service_status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
  service_status.dwCurrentState = state;
  service_status.dwControlsAccepted =
      state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN
                               : 0;
  service_status.dwWin32ExitCode =
      exit_code == NO_ERROR ? NO_ERROR : ERROR_SERVICE_SPECIFIC_ERROR;
  service_status.dwServiceSpecificExitCode = exit_code;
  service_status.dwWaitHint = state == SERVICE_RUNNING ? 0 : 10000;
  SetServiceStatus(service_handle, &service_status);
}

DWORD WINAPI on_service_control(DWORD control, DWORD, void *, void *) {
  if (control == SERVICE_CONTROL_STOP || control == SERVICE_CONTROL_SHUTDOWN) {
    report_service(SERVICE_STOP_PENDING);
    {
      std::lock_guard<std::mutex> guard{stop_mutex};
      stop_event = CTRL_CLOSE_EVENT;
    }
    stop_cv.notify_all();
  }
  return NO_ERROR;
}

bool running_as_service = false;

void WINAPI service_main(DWORD, LPWSTR *) {
  service_handle =
      RegisterServiceCtrlHandlerExW(L"proctrack", on_service_control, nullptr);
  if (service_handle == nullptr)
    return;
  running_as_service = true;
  report_service(SERVICE_START_PENDING);
  int rc = run_console_agent(*service_args);
  report_service(SERVICE_STOPPED, static_cast<DWORD>(rc));
}

} // namespace

int run_agent(const command_line &cl) {
  // Under the SCM the dispatcher runs service_main and returns when the
  // service has stopped; in a console it fails at once with
  // ERROR_FAILED_SERVICE_CONTROLLER_CONNECT.
  service_args = &cl;
  wchar_t name[] = L"proctrack";
  SERVICE_TABLE_ENTRYW table[] = {{name, service_main}, {nullptr, nullptr}};
  if (StartServiceCtrlDispatcherW(table))
    return static_cast<int>(service_status.dwServiceSpecificExitCode);
  return run_console_agent(cl);
}

namespace {

int run_console_agent(const command_line &cl) {
#if !PROCTRACK_HAVE_WINPSLIST
  (void)cl;
  return fail("this Windows build has no live source: the Windows process "
              "list (actors/winpslist/) and the ETW source (actors/etw/) were "
              "not in the tree it was built from (docs/windows.md). `replay` "
              "and `query --connect` work.");
#else
  proctrack_config cfg;
  cfg.set("scheduler.policy", caf::atom("sharing"));
  if (auto done = start_command(cfg, cl, "proctrack run"))
    return *done;
  if (!cl.operands.empty())
    return fail("takes no operands (got \"" + cl.operands.front()
                + "\"); to read files use `proctrack replay`");
  if (cfg.query_port >= 0)
    return fail("query.port: the Windows build has no TCP query endpoint yet "
                "(its listener guard is POSIX-socket code); leave query.port "
                "unset (docs/windows.md)");
  if (!cfg.history_path.empty()
      && cfg.history_path != defaults::agent_history_path)
    return fail("history.path: the Windows build has no history store "
                "(SQLite); leave history.path unset (docs/windows.md)");
  if (!cfg.forward_connect.empty())
    cfg.load_network();
  auto sync_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(cfg.sync_period).count();
  const bool use_etw = cfg.sources == "auto";
  // ETW delivers Sysmon's events only while Sysmon runs: without it the
  // session would start and stay silent, so the agent refuses instead.
  if (use_etw && !cfg.sysmon_file_location.empty()) {
    auto v = etw::check_sysmon(cfg.sysmon_file_location);
    if (v.state == etw::sysmon_state::running)
      spdlog::info("{}", v.message);
    else if (v.state == etw::sysmon_state::unknown)
      // No answer is not a "no": the ETW session says whether it works.
      spdlog::warn("{}", v.message);
    else
      return fail("the ETW source needs Sysmon (tracker.sources=auto): "
                  + v.message);
  } else if (use_etw) {
    spdlog::warn("tracker.sysmon-file-location is empty: Sysmon's presence "
                 "is not checked; without Sysmon the ETW session sees no "
                 "process events");
  } else {
    spdlog::warn("tracker.sources=pslist: no live events; processes are "
                 "seen at each process list sync, every {} s",
                 sync_seconds);
  }
  if (!running_as_service)
    SetConsoleCtrlHandler(on_console_event, TRUE);

  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::vector<caf::actor> started;
  output_writer_actor writer;
  auto stop_all = [&](int code) {
    for (auto &a : started)
      self->send_exit(a, caf::exit_reason::user_shutdown);
    if (writer) {
      self->send_exit(writer, caf::exit_reason::user_shutdown);
      self->wait_for(writer);
    }
    std::fflush(stdout);
    std::thread([code] {
      std::this_thread::sleep_for(std::chrono::milliseconds(1000));
      spdlog::default_logger()->flush();
      std::_Exit(code);
    }).detach();
    return code;
  };
  auto fail_running = [&](const std::string &msg) {
    fail(msg);
    return stop_all(2);
  };
  auto keep = [&](const auto &h) {
    if (h)
      started.push_back(caf::actor_cast<caf::actor>(h));
  };
  std::string error;
  // The cache, with the enricher and the forwarder when they are on, as
  // replay and embedders start them. The stats publisher comes last: it
  // polls the sources started below.
  auto tracked = spawn_tracker(sys, cfg.make_tracker_settings());
  if (!tracked)
    return fail_running(tracker_error_message(tracked.error()));
  auto cache = tracked->cache;
  auto enricher = tracked->enricher;
  auto forwarder = tracked->forwarder;
  keep(enricher);
  keep(cache);
  keep(forwarder);
  writer = spawn_output_writer(sys, cfg.output_path, error);
  if (!writer)
    return fail_running(error);
  pslist_sync_config pc;
  pc.period = cfg.sync_period;
  if (auto why = pc.validate(); !why.empty())
    return fail_running(why);
  auto pslist = spawn_pslist_sync(sys, pc, cache);
  keep(pslist);
  // The ETW session starts before the first listing: a process started in
  // between is in one or the other, and a failure is known before anything
  // is written.
  live_events_actor etw;
  if (use_etw) {
    etw_source_config ec;
    etw = spawn_etw_source(sys, ec, cache, pslist, error);
    if (!etw)
      return fail_running(
          "the ETW source cannot start: " + error
          + ". It needs Sysmon installed and running and an Administrator "
            "(or a member of Performance Log Users); without them run "
            "with --tracker.sources=pslist (the process list alone, every "
          + std::to_string(sync_seconds) + " s)");
    keep(etw);
    // Each listing first takes the events ETW delivered before it.
    self->send(pslist, atom::subscribe_v, etw);
    spdlog::info("live source: Sysmon over ETW (session {})",
                 "proctrack-sysmon");
  }
  if (auto why = first_sync_then_subscribe(self, pslist, cache, writer,
                                           "process list sync");
      !why.empty())
    return fail_running(why);
  auto sink = caf::actor_cast<update_sink_actor>(writer);
  std::vector<stats_api> polled{caf::actor_cast<stats_api>(pslist),
                                caf::actor_cast<stats_api>(writer)};
  if (etw)
    polled.insert(polled.begin(), caf::actor_cast<stats_api>(etw));
  if (enricher)
    polled.push_back(caf::actor_cast<stats_api>(enricher));
  if (forwarder)
    polled.push_back(caf::actor_cast<stats_api>(forwarder));
  stats_publisher_config sc;
  sc.interval = cfg.stats_interval;
  auto stats = spawn_stats_publisher(sys, sc, cache, polled, sink);
  keep(stats);
  spdlog::info("ready: no query endpoint in the Windows build; {} stops",
               running_as_service ? "a service stop" : "Ctrl-C");
  if (running_as_service)
    report_service(SERVICE_RUNNING);
  std::unique_lock<std::mutex> lock{stop_mutex};
  stop_cv.wait(lock, [] { return stop_event != ~DWORD{0}; });
  auto event = stop_event;
  lock.unlock();
  spdlog::info("stopping on console event {}", event);
  return stop_all(0);
#endif
}

} // namespace

} // namespace proctrack
