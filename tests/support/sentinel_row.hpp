// One row of Log Analytics / Microsoft Sentinel's Event table (an
// outsider's form1 row): its EventData is an XML string. Read by the
// decoder's suite and, through a file, by the command line's.
#pragma once

#include <string>

namespace proctrack_test {

inline const std::string sentinel_event_row =
    R"({"TimeGenerated":"2025-11-28T07:28:20.000Z","Computer":"HOSTA.)"
    R"(example.test","Source":"Microsoft-Windows-Sysmon","EventLog":)"
    R"("Microsoft-Windows-Sysmon/Operational","EventID":1,)"
    R"("EventLevelName":"Information","RenderedDescription":"Process )"
    R"(Create:","EventData":"<DataItem type=\"Event\" time=\"2025-11-28T)"
    R"(07:28:19.9361230Z\" sourceHealthServiceId=\"x\"><EventData xmlns=)"
    R"(\"http://schemas.microsoft.com/win/2004/08/events/event\"><Data )"
    R"(Name=\"RuleName\">-</Data><Data Name=\"UtcTime\">2025-11-28 )"
    R"(07:28:19.935</Data><Data Name=\"ProcessGuid\">{0197231e-4f13-6929-)"
    R"(a510-000000000d00}</Data><Data Name=\"ProcessId\">14364</Data>)"
    R"(<Data Name=\"Image\">C:\\Windows\\System32\\cmd.exe</Data><Data )"
    R"(Name=\"CommandLine\">cmd.exe</Data><Data Name=\"User\">HOSTA\\)"
    R"(user1</Data><Data Name=\"ParentProcessGuid\">{0197231e-4ef4-6929-)"
    R"(a410-000000000d00}</Data><Data Name=\"ParentProcessId\">144</Data>)"
    R"(<Data Name=\"ParentImage\">C:\\Windows\\explorer.exe</Data>)"
    R"(</EventData></DataItem>"})";

} // namespace proctrack_test
