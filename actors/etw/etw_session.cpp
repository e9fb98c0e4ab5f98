#include "actors/etw/etw_session.hpp"

#ifdef _WIN32

#include "actors/etw/sysmon_etw_decoder.hpp"

// clang-format off
#include <windows.h>
#include <evntrace.h>
#include <evntcons.h>
#include <tdh.h>
// clang-format on

#include <cstring>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

namespace proctrack::etw {

namespace {

// {5770385f-c22a-43e0-bf4c-06f5698ffbd9}, Microsoft-Windows-Sysmon.
constexpr GUID sysmon_guid = {0x5770385f,
                              0xc22a,
                              0x43e0,
                              {0xbf, 0x4c, 0x06, 0xf5, 0x69, 0x8f, 0xfb, 0xd9}};

// RT_LostEvent {6a399ae0-4bc6-4de9-870b-3657f8947e7e}: the events ETW
// injects into a real-time consumer when events or buffers were lost
// ("RT_LostEvent class", Microsoft Learn; not declared by mingw's headers).
constexpr GUID rt_lost_event_guid = {
    0x6a399ae0,
    0x4bc6,
    0x4de9,
    {0x87, 0x0b, 0x36, 0x57, 0xf8, 0x94, 0x7e, 0x7e}};

// TDH's "more data" answer (winerror.h's ERROR_INSUFFICIENT_BUFFER).
constexpr ULONG tdh_insufficient_buffer = ERROR_INSUFFICIENT_BUFFER;
// A TRACE_EVENT_INFO larger than this is refused.
constexpr ULONG max_event_info = 1u << 20;

std::string utf8(const wchar_t *w) {
  if (w == nullptr || *w == 0)
    return {};
  int len =
      WideCharToMultiByte(CP_UTF8, 0, w, -1, nullptr, 0, nullptr, nullptr);
  if (len <= 1)
    return {};
  std::string out(static_cast<std::size_t>(len), '\0');
  WideCharToMultiByte(CP_UTF8, 0, w, -1, out.data(), len, nullptr, nullptr);
  out.pop_back(); // the NUL
  return out;
}

std::string win32_error(const char *call, ULONG code) {
  std::string msg =
      std::string(call) + " failed: Win32 error " + std::to_string(code);
  switch (code) {
  case ERROR_ACCESS_DENIED:
    msg += " (access denied: an ETW real-time session needs an "
           "Administrator or a member of Performance Log Users; under wine, "
           "ETW is not implemented)";
    break;
  case ERROR_CALL_NOT_IMPLEMENTED:
    msg += " (not implemented: this Windows, or wine, has no ETW "
           "consumer)";
    break;
  case ERROR_ALREADY_EXISTS:
    msg += " (a session of that name exists)";
    break;
  case ERROR_NO_SYSTEM_RESOURCES:
    msg += " (too many ETW sessions on this host)";
    break;
  default:
    break;
  }
  return msg;
}

// EVENT_TRACE_PROPERTIES followed by room for the session's name.
struct properties {
  std::vector<unsigned char> buf;
  properties() {
    std::size_t name_bytes = (std::wcslen(session_name) + 1) * sizeof(wchar_t);
    buf.assign(sizeof(EVENT_TRACE_PROPERTIES) + name_bytes + 1024, 0);
    auto *p = get();
    p->Wnode.BufferSize = static_cast<ULONG>(buf.size());
    p->Wnode.Flags = WNODE_FLAG_TRACED_GUID;
    p->Wnode.ClientContext = 2; // system time: TimeStamp is a FILETIME
    p->LogFileMode = EVENT_TRACE_REAL_TIME_MODE;
    p->LoggerNameOffset = sizeof(EVENT_TRACE_PROPERTIES);
  }
  EVENT_TRACE_PROPERTIES *get() {
    return reinterpret_cast<EVENT_TRACE_PROPERTIES *>(buf.data());
  }
  void reset() {
    properties fresh;
    buf = std::move(fresh.buf);
  }
};

} // namespace

struct session::impl {
  std::string computer;
  update_fn on_update;
  error_fn on_error;
  lost_fn on_lost;
  properties props;
  TRACEHANDLE control = 0;
  TRACEHANDLE trace = INVALID_PROCESSTRACE_HANDLE;
  std::mutex mtx; // stats and the layout cache
  session_stats st;
  std::map<std::pair<USHORT, UCHAR>, std::optional<layout>> layouts;
  std::vector<unsigned char> info_buf;
  std::uint64_t sequence = 0;

  // The layout of this event's (id, version), from TDH, cached; nullopt
  // (cached too) when TDH cannot describe it in a form the decoder reads.
  const std::optional<layout> &layout_of(PEVENT_RECORD rec, std::string &why) {
    auto key = std::make_pair(rec->EventHeader.EventDescriptor.Id,
                              rec->EventHeader.EventDescriptor.Version);
    if (auto it = layouts.find(key); it != layouts.end())
      return it->second;
    std::optional<layout> out;
    ULONG size = static_cast<ULONG>(info_buf.size());
    ULONG rc = ERROR_INSUFFICIENT_BUFFER;
    if (size > 0)
      rc = TdhGetEventInformation(
          rec, 0, nullptr, reinterpret_cast<PTRACE_EVENT_INFO>(info_buf.data()),
          &size);
    if (rc == tdh_insufficient_buffer && size <= max_event_info) {
      info_buf.assign(size, 0);
      rc = TdhGetEventInformation(
          rec, 0, nullptr, reinterpret_cast<PTRACE_EVENT_INFO>(info_buf.data()),
          &size);
    }
    if (rc != ERROR_SUCCESS) {
      why = win32_error("TdhGetEventInformation", rc);
    } else {
      auto *info = reinterpret_cast<const TRACE_EVENT_INFO *>(info_buf.data());
      layout l;
      bool ok = true;
      for (ULONG i = 0; i < info->TopLevelPropertyCount && ok; ++i) {
        const EVENT_PROPERTY_INFO &p = info->EventPropertyInfoArray[i];
        std::string name = p.NameOffset < size
                               ? utf8(reinterpret_cast<const wchar_t *>(
                                   info_buf.data() + p.NameOffset))
                               : std::string{};
        // Structures, arrays and lengths given by another property are not
        // in Sysmon's process events; refuse them by name.
        if ((p.Flags
             & (PropertyStruct | PropertyParamLength | PropertyParamCount))
                != 0
            || p.count > 1) {
          why = "property " + name
                + " is a structure, an array or has a "
                  "variable length";
          ok = false;
          break;
        }
        l.push_back({std::move(name), p.nonStructType.InType});
      }
      if (ok)
        out = std::move(l);
    }
    ++st.layouts;
    return layouts.emplace(key, std::move(out)).first->second;
  }

  void on_event(PEVENT_RECORD rec) {
    auto &h = rec->EventHeader;
    if (IsEqualGUID(h.ProviderId, rt_lost_event_guid)) {
      {
        std::lock_guard<std::mutex> g(mtx);
        ++st.lost_notices;
      }
      if (on_lost)
        on_lost();
      return;
    }
    if (!IsEqualGUID(h.ProviderId, sysmon_guid))
      return;
    std::uint16_t id = h.EventDescriptor.Id;
    std::lock_guard<std::mutex> g(mtx);
    ++st.events;
    if (id != 1 && id != 5)
      return;
    std::string why;
    auto &l = layout_of(rec, why);
    if (!l) {
      ++st.layout_errors;
      if (on_error)
        on_error(id, why.empty() ? "no layout for this event" : why);
      return;
    }
    envelope env;
    env.computer = computer;
    env.record_number = ++sequence;
    env.filetime = static_cast<std::uint64_t>(h.TimeStamp.QuadPart);
    env.pointer_64 = (h.Flags & EVENT_HEADER_FLAG_64_BIT_HEADER) != 0;
    auto u =
        decode_update(id, static_cast<const unsigned char *>(rec->UserData),
                      rec->UserDataLength, *l, env, why);
    if (!u || !why.empty()) {
      ++st.decode_errors;
      if (on_error)
        on_error(id, why);
    }
    if (u) {
      ++st.updates;
      if (on_update)
        on_update(std::move(*u));
    }
  }

  static void WINAPI callback(PEVENT_RECORD rec) {
    static_cast<impl *>(rec->UserContext)->on_event(rec);
  }
};

session::session(std::string computer, update_fn on_update, error_fn on_error,
                 lost_fn on_lost)
    : impl_(std::make_unique<impl>()) {
  impl_->computer = std::move(computer);
  impl_->on_update = std::move(on_update);
  impl_->on_error = std::move(on_error);
  impl_->on_lost = std::move(on_lost);
}

session::~session() {
  stop();
}

bool session::start(std::string &error) {
  auto &m = *impl_;
  m.props.reset();
  ULONG rc = StartTraceW(&m.control, session_name, m.props.get());
  if (rc == ERROR_ALREADY_EXISTS) {
    // A leftover from a run that did not stop it: stop it, start ours.
    properties stop_props;
    ControlTraceW(0, session_name, stop_props.get(), EVENT_TRACE_CONTROL_STOP);
    m.props.reset();
    rc = StartTraceW(&m.control, session_name, m.props.get());
  }
  if (rc != ERROR_SUCCESS) {
    error = win32_error("StartTraceW(proctrack-sysmon)", rc);
    m.control = 0;
    return false;
  }
  // Every keyword (Sysmon's events carry the channel's bit,
  // 0x8000000000000000), verbose level, no filter: EID filtering is ours.
  rc = EnableTraceEx2(m.control, &sysmon_guid,
                      EVENT_CONTROL_CODE_ENABLE_PROVIDER, TRACE_LEVEL_VERBOSE,
                      ~0ULL, 0, 0, nullptr);
  if (rc != ERROR_SUCCESS) {
    error = win32_error("EnableTraceEx2(Microsoft-Windows-Sysmon)", rc);
    stop();
    return false;
  }
  EVENT_TRACE_LOGFILEW log{};
  log.LoggerName = const_cast<LPWSTR>(session_name);
  log.ProcessTraceMode =
      PROCESS_TRACE_MODE_REAL_TIME | PROCESS_TRACE_MODE_EVENT_RECORD;
  log.EventRecordCallback = &impl::callback;
  log.Context = impl_.get();
  m.trace = OpenTraceW(&log);
  if (m.trace == INVALID_PROCESSTRACE_HANDLE) {
    error = win32_error("OpenTraceW(proctrack-sysmon)", GetLastError());
    stop();
    return false;
  }
  return true;
}

bool session::run(std::string &error) {
  auto &m = *impl_;
  if (m.trace == INVALID_PROCESSTRACE_HANDLE) {
    error = "ETW session not started";
    return false;
  }
  ULONG rc = ProcessTrace(&m.trace, 1, nullptr, nullptr);
  if (rc != ERROR_SUCCESS && rc != ERROR_CANCELLED) {
    error = win32_error("ProcessTrace(proctrack-sysmon)", rc);
    return false;
  }
  return true;
}

void session::stop() {
  auto &m = *impl_;
  if (m.control != 0) {
    properties p;
    ControlTraceW(m.control, nullptr, p.get(), EVENT_TRACE_CONTROL_STOP);
    m.control = 0;
  }
  if (m.trace != INVALID_PROCESSTRACE_HANDLE) {
    CloseTrace(m.trace);
    m.trace = INVALID_PROCESSTRACE_HANDLE;
  }
}

session_stats session::stats() {
  auto &m = *impl_;
  bool grew = false;
  session_stats out;
  {
    std::lock_guard<std::mutex> g(m.mtx);
    if (m.control != 0) {
      properties p;
      if (ControlTraceW(m.control, nullptr, p.get(), EVENT_TRACE_CONTROL_QUERY)
          == ERROR_SUCCESS) {
        auto *q = p.get();
        grew = q->EventsLost > m.st.events_lost
               || q->RealTimeBuffersLost > m.st.buffers_lost;
        m.st.events_lost = q->EventsLost;
        m.st.buffers_lost = q->RealTimeBuffersLost;
      }
    }
    out = m.st;
  }
  if (grew && m.on_lost)
    m.on_lost();
  return out;
}

std::string local_computer_name() {
  wchar_t buf[256];
  DWORD n = 256;
  if (!GetComputerNameExW(ComputerNameDnsFullyQualified, buf, &n))
    return {};
  return utf8(buf);
}

} // namespace proctrack::etw

#endif // _WIN32
