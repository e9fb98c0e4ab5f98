// The wording of a replay's progress and summary lines (issue 18 item 6):
// what the analyst reads on the terminal.
#include <boost/test/unit_test.hpp>

#include "actors/ingest/replay_progress.hpp"

BOOST_AUTO_TEST_SUITE(replay_progress_test)

using namespace proctrack;

BOOST_AUTO_TEST_CASE(progress_counts_files_rate_and_eta_from_bytes) {
  replay_figures f;
  f.files_done = 2;
  f.files_total = 10;
  f.records = 40000;
  f.errors = 3;
  f.bytes_done = 250;
  f.bytes_total = 1000;
  f.seconds = 2;
  f.current = "/cases/host-a/Microsoft-Windows-Sysmon%4Operational.evtx";
  // A quarter of the bytes in 2 s: 6 s left.
  BOOST_TEST(progress_line(f)
             == "[file 3/10] Microsoft-Windows-Sysmon%4Operational.evtx: "
                "40000 records, 20000 records/s, 3 errors, ETA 0:06");
}

BOOST_AUTO_TEST_CASE(progress_falls_back_to_files_and_waits_a_second) {
  replay_figures f;
  f.files_done = 1;
  f.files_total = 4;
  f.records = 10;
  f.seconds = 90;
  f.current = "-";
  // stdin and unknown sizes: 1 of 4 files in 90 s, 270 s (4:30) to go.
  BOOST_TEST(progress_line(f)
             == "[file 2/4] -: 10 records, 0 records/s, 0 errors, ETA 4:30");
  f.seconds = 0.5;
  BOOST_TEST(progress_line(f).find("ETA") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(hostile_file_names_cannot_drive_the_terminal) {
  replay_figures f;
  f.files_total = 1;
  f.current = std::string("/x/\x1b]0;pwned\x07\x1b[2J") + std::string(80, 'a');
  auto line = progress_line(f);
  for (char c : line)
    BOOST_TEST((static_cast<unsigned char>(c) >= 0x20 && c != 0x7f),
               "control character in " << line);
  BOOST_TEST(line.find("?]0;pwned??[2Jaaaa") != std::string::npos, line);
  BOOST_TEST(line.find("...: 0 records") != std::string::npos, line);
}

BOOST_AUTO_TEST_CASE(summary_names_failures_and_sources) {
  replay_figures f;
  f.files_done = 3;
  f.files_total = 5;
  f.open_failures = 1;
  f.files_skipped = 1;
  f.records = 1200;
  f.updates = 700;
  f.security_events = 200;
  f.linux_events = 50;
  f.errors = 2;
  f.seconds = 4;
  BOOST_TEST(summary_line(f)
             == "replay: 3 files (1 unreadable, 1 not a log), 1200 records "
                "(Security 4688/4689: 200, Sysmon for Linux: 50), 700 process "
                "updates, 2 input errors in 4.0 s (300 records/s)");
  replay_figures one;
  one.files_done = 1;
  BOOST_TEST(summary_line(one)
             == "replay: 1 file, 0 records, 0 process updates, 0 input errors "
                "in 0.0 s (0 records/s)");
}

BOOST_AUTO_TEST_SUITE_END()
