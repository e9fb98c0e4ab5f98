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

/// Log Analytics / Sentinel's SecurityEvent table (`SecurityEvent | where
/// EventID in (4688, 4689)` exported as JSON): the provider in
/// EventSourceName, the time in TimeGenerated, the fields both as columns
/// and in an EventData XML string. cmd.exe 0x381c (14364) started by
/// explorer 0x90 (144) at 07:28:19.936123, exited at 07:30:00.
inline const std::string sentinel_security_start_row =
    R"({"TenantId":"x","TimeGenerated":"2025-11-28T07:28:19.9361230Z","So)"
    R"(urceSystem":"OpsManager","Account":"HOSTA\\user1","AccountType":"U)"
    R"(ser","Computer":"HOSTA.example.test","EventSourceName":"Microsoft-)"
    R"(Windows-Security-Auditing","Channel":"Security","Task":13312,"Leve)"
    R"(l":"8","EventData":"<EventData xmlns=\"http://schemas.microsoft.co)"
    R"(m/win/2004/08/events/event\"><Data Name=\"SubjectUserSid\">S-1-5-2)"
    R"(1-1</Data><Data Name=\"SubjectUserName\">user1</Data><Data Name=\")"
    R"(SubjectDomainName\">HOSTA</Data><Data Name=\"SubjectLogonId\">0x3e)"
    R"(7</Data><Data Name=\"NewProcessId\">0x381c</Data><Data Name=\"NewP)"
    R"(rocessName\">C:\\Windows\\System32\\cmd.exe</Data><Data Name=\"Tok)"
    R"(enElevationType\">%%1936</Data><Data Name=\"ProcessId\">0x90</Data)"
    R"(><Data Name=\"CommandLine\">cmd.exe /c whoami</Data><Data Name=\"T)"
    R"(argetUserSid\">S-1-0-0</Data><Data Name=\"TargetUserName\">-</Data)"
    R"(><Data Name=\"TargetDomainName\">-</Data><Data Name=\"TargetLogonI)"
    R"(d\">0x0</Data><Data Name=\"ParentProcessName\">C:\\Windows\\explor)"
    R"(er.exe</Data><Data Name=\"MandatoryLabel\">S-1-16-8192</Data></Eve)"
    R"(ntData>","EventID":4688,"Activity":"4688 - A new process has been )"
    R"(created.","CommandLine":"cmd.exe /c whoami","NewProcessId":"0x381c)"
    R"(","NewProcessName":"C:\\Windows\\System32\\cmd.exe","ParentProcess)"
    R"(Name":"C:\\Windows\\explorer.exe","ProcessId":"0x90","SubjectUserN)"
    R"(ame":"user1","SubjectDomainName":"HOSTA","TokenElevationType":"%%1)"
    R"(936","MandatoryLabel":"S-1-16-8192","Type":"SecurityEvent"})";
inline const std::string sentinel_security_exit_row =
    R"({"TenantId":"x","TimeGenerated":"2025-11-28T07:30:00.0000000Z","Co)"
    R"(mputer":"HOSTA.example.test","EventSourceName":"Microsoft-Windows-)"
    R"(Security-Auditing","Channel":"Security","EventID":4689,"Activity":)"
    R"("4689 - A process has exited.","ProcessId":"0x381c","ProcessName":)"
    R"("C:\\Windows\\System32\\cmd.exe","Status":"0x0","SubjectUserName":)"
    R"("user1","SubjectDomainName":"HOSTA","Type":"SecurityEvent"})";

} // namespace proctrack_test
