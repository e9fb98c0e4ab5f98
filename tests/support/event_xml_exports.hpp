// Sysmon events as Windows' own tools export them as XML, for the
// decoder's suite and, through files, the command line's: wevtutil qe
// /f:xml (events one after another, no line break between), Event Viewer's
// "Save All Events As... XML" (a declaration, <Events> around one event a
// line; after iconv from UTF-16) and a pretty-printed export (an element a
// line, indented). The events are those of the Splunk XmlWinEventLog case
// (HOSTA, cmd.exe 14364 under explorer 144), with the times and pids given.
#pragma once

#include <string>
#include <vector>

namespace proctrack_test {

/// Sysmon EID 1 (pretty: an element a line, indented, as XML editors and
/// PowerShell's formatted output write it).
inline std::string sysmon_start_xml(const std::string &pid,
                                    const std::string &command_line,
                                    bool pretty = false) {
  std::vector<std::string> parts{
      "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>",
      "<System>",
      "<Provider Name='Microsoft-Windows-Sysmon' "
      "Guid='{5770385F-C22A-43E0-BF4C-06F5698FFBD9}'/>",
      "<EventID>1</EventID>",
      "<Version>5</Version>",
      "<TimeCreated SystemTime='2025-11-28T07:28:19.936123Z'/>",
      "<EventRecordID>1001</EventRecordID>",
      "<Computer>HOSTA.example.test</Computer>",
      "</System>",
      "<EventData>",
      "<Data Name='RuleName'>-</Data>",
      "<Data Name='UtcTime'>2025-11-28 07:28:19.935</Data>",
      "<Data Name='ProcessGuid'>{0197231e-4f13-6929-a510-00000000" + pid
          + "}</Data>",
      "<Data Name='ProcessId'>" + pid + "</Data>",
      "<Data Name='Image'>C:\\Windows\\System32\\cmd.exe</Data>",
      "<Data Name='CommandLine'>" + command_line + "</Data>",
      "<Data Name='User'>HOSTA\\user1</Data>",
      "<Data Name='ParentProcessGuid'>{0197231e-4ef4-6929-a410-000000000d00}"
      "</Data>",
      "<Data Name='ParentProcessId'>144</Data>",
      "<Data Name='ParentImage'>C:\\Windows\\explorer.exe</Data>",
      "</EventData>",
      "</Event>"};
  std::string out;
  int depth = 0;
  for (auto &p : parts) {
    bool closes = p.rfind("</", 0) == 0;
    if (pretty) {
      if (closes)
        --depth;
      if (!out.empty())
        out += "\r\n";
      out += std::string(static_cast<std::size_t>(2 * depth), ' ');
      if (!closes && p.find("</") == std::string::npos
          && p.find("/>") == std::string::npos)
        ++depth;
    }
    out += p;
  }
  return out;
}

/// Sysmon EID 5 of `pid` at 07:30:00.
inline std::string sysmon_exit_xml(const std::string &pid) {
  return "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/"
         "event'><System><Provider Name='Microsoft-Windows-Sysmon' "
         "Guid='{5770385F-C22A-43E0-BF4C-06F5698FFBD9}'/><EventID>5</EventID>"
         "<Version>3</Version><TimeCreated "
         "SystemTime='2025-11-28T07:30:00.000500Z'/><EventRecordID>1002"
         "</EventRecordID><Computer>HOSTA.example.test</Computer></System>"
         "<EventData><Data Name='RuleName'>-</Data><Data Name='UtcTime'>"
         "2025-11-28 07:30:00.000</Data><Data Name='ProcessGuid'>"
         "{0197231e-4f13-6929-a510-00000000"
         + pid + "}</Data><Data Name='ProcessId'>" + pid
         + "</Data><Data Name='Image'>C:\\Windows\\System32\\cmd.exe</Data>"
           "</EventData></Event>";
}

/// The command line of every start in wevtutil_one_line_log().
inline std::string long_command_line() {
  return "cmd.exe /c " + std::string(1200, 'p');
}

/// `wevtutil qe /f:xml` of a whole log: 9,000 starts (pids 1000..9999,
/// long_command_line()) back to back on one line of about 20 MB, over the
/// line reader's 16 MiB bound, then `tail` (e.g. an exit, a line break).
inline std::string wevtutil_one_line_log(const std::string &tail) {
  std::string big;
  auto cmd = long_command_line();
  for (int pid = 1000; pid < 10000; ++pid)
    big += sysmon_start_xml(std::to_string(pid), cmd);
  return big + tail;
}

/// Event Viewer's "Save All Events As... XML", converted to UTF-8.
inline std::string event_viewer_export(const std::vector<std::string> &events) {
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\r\n<Events>";
  for (auto &e : events)
    out += e + "\r\n";
  return out + "</Events>\r\n";
}

} // namespace proctrack_test
