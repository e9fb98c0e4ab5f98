// Update rows (SPEC §5): what is accepted, what is rejected and why.
#include <boost/test/unit_test.hpp>

#include "actors/common/time.hpp"
#include "actors/ingest/update_row_decoder.hpp"
#include "tests/support/printers.hpp"

#include <nlohmann/json.hpp>

#include <ostream>

using namespace proctrack;

BOOST_AUTO_TEST_SUITE(update_row_decoder_test)

namespace {

process_update ok(const std::string &line) {
  process_update u;
  std::string err;
  auto r = decode_update_row(line, u, err);
  BOOST_TEST_INFO("line: " << line << " error: " << err);
  BOOST_REQUIRE(r == row_result::update);
  return u;
}

std::string bad(const std::string &line) {
  process_update u;
  std::string err;
  auto r = decode_update_row(line, u, err);
  BOOST_TEST_INFO("line: " << line);
  BOOST_REQUIRE(r == row_result::error);
  BOOST_TEST(!err.empty());
  return err;
}

} // namespace

BOOST_AUTO_TEST_CASE(start_row_with_numbers_and_strings) {
  auto u = ok(R"({"update_type":"start","id":2,"parent_id":"1",)"
              R"("start_time":"2021-01-01T12:30:00Z","data":{"Name":"P2"}})");
  BOOST_TEST(u.kind == update_kind::start);
  BOOST_TEST(u.process.pid == "2");
  BOOST_TEST(u.process.ppid == "1");
  BOOST_TEST(u.process.start_time == *parse_time("2021-01-01T12:30:00Z"));
  BOOST_REQUIRE(u.process.data.size() == 1u);
  BOOST_TEST(u.process.data[0].key == "Name");
  BOOST_TEST(u.process.data[0].json == "\"P2\"");
  // A real id as the id gives its pid.
  BOOST_TEST(ok(R"({"update_type":"start","id":"5-1609497000"})").process.pid
             == "5");
}

BOOST_AUTO_TEST_CASE(data_values_are_kept_as_they_came) {
  auto u = ok(R"({"update_type":"start","id":2,"data":{"A":1.50,)"
              R"("B":"\u00e9\"x","C":{"SHA256":"AB","N":[1,2]},"D":null,)"
              R"("ProcessGuid":"{ABC-1}","ParentProcessGuid":"{DEF-2}"}})");
  auto &d = u.process.data;
  BOOST_REQUIRE(d.size() == 6u);
  BOOST_TEST(d[0].json == "1.50");
  BOOST_TEST(d[1].json == R"("\u00e9\"x")");
  BOOST_TEST(d[2].json == R"({"SHA256":"AB","N":[1,2]})");
  BOOST_TEST(d[3].json == "null");
  BOOST_TEST(u.process.guid == "{abc-1}");
  BOOST_TEST(u.process.parent_guid == "{def-2}");
}

BOOST_AUTO_TEST_CASE(escaped_keys_are_unescaped) {
  auto u = ok(R"({"update_type":"start","id":2,"data":{"N\u0061me":"x"}})");
  BOOST_TEST(u.process.data[0].key == "Name");
}

BOOST_AUTO_TEST_CASE(exit_and_sync_rows) {
  auto e = ok(R"({"update_type":"exit","id":"{AB-CD}","end_time":1609459200})");
  BOOST_TEST(e.kind == update_kind::exit);
  BOOST_TEST(e.target == "{AB-CD}");
  BOOST_TEST(e.time == 1609459200 * hns_per_second);
  auto s = ok(
      R"({"update_type":"sync","time":"2021-01-01 12:30:00.123",)"
      R"("processes":[{"id":2,"parent_id":5,"start_time":"2021-01-01T12:30Z"},)"
      R"({"id":"5","data":{"Name":"five"}}]})");
  BOOST_TEST(s.kind == update_kind::sync);
  BOOST_TEST(s.time == *parse_time("2021-01-01T12:30:00.123Z"));
  BOOST_REQUIRE(s.processes.size() == 2u);
  BOOST_TEST(s.processes[0].ppid == "5");
  BOOST_TEST(s.processes[1].data[0].json == "\"five\"");
}

BOOST_AUTO_TEST_CASE(time_forms) {
  for (auto t :
       {R"("2021-01-01T12:30:00Z")", R"("2021-01-01T12:30Z")",
        R"("2021-01-01T14:30:00+02:00")", R"("2021-01-01 12:30:00.000")",
        "1609504200", R"("1609504200")", "1609504200.0"}) {
    auto u = ok(std::string{R"({"update_type":"exit","id":2,"end_time":)"} + t
                + "}");
    BOOST_TEST(u.time == 1609504200 * hns_per_second, "form " << t);
  }
}

BOOST_AUTO_TEST_CASE(stats_rows_and_blank_lines_are_skipped) {
  process_update u;
  std::string err;
  BOOST_TEST(decode_update_row("   ", u, err) == row_result::skip);
  BOOST_TEST(decode_update_row(R"({"update_type":"stats","data":{}})", u, err)
             == row_result::skip);
}

BOOST_AUTO_TEST_CASE(bad_rows_are_rejected_with_a_reason) {
  BOOST_TEST(bad(R"({"update_type":"start","id":2)").find("not valid JSON")
             != std::string::npos);
  bad(R"({"update_type":"start","id":2} trailing)");
  bad(R"([1,2])");
  bad(R"("just a string")");
  bad(R"({"id":2})");
  bad(R"({"update_type":"bogus","id":2})");
  BOOST_TEST(bad(R"({"update_type":"start","id":"abc"})").find("\"id\"")
             != std::string::npos);
  bad(R"({"update_type":"start","id":-3})");
  bad(R"({"update_type":"start","id":2.5})");
  bad(R"({"update_type":"start","id":2,"data":"x"})");
  BOOST_TEST(bad(R"({"update_type":"start","id":2,"start_time":"yesterday"})")
                 .find("start_time")
             != std::string::npos);
  bad(R"({"update_type":"exit","id":2})");
  bad(R"({"update_type":"sync","time":1,"processes":{}})");
  bad(R"({"update_type":"sync","time":1,"processes":[{"id":"x"}]})");
  // Invalid UTF-8 is no longer an error: see bad_text_becomes_u_fffd.
  bad("{\"update_type\":\"start\",\"id\":2,\"data\":{\"N\":\"a\tb\"}}");
  bad(R"({"update_type":"start","id":2,"data":{"N":tru}})");
  bad(R"({"update_type":"start","id":2,"data":{"N":01}})");
  bad(R"({"update_type":"start","id":2,"data":{"N":"\x"}})");
  std::string deep = R"({"update_type":"start","id":2,"data":{"N":)";
  deep += std::string(200, '[') + std::string(200, ']') + "}}";
  bad(deep);
}

BOOST_AUTO_TEST_CASE(agrees_with_nlohmann_on_what_is_json) {
  // Every prefix of a valid row is torn JSON except the whole row.
  std::string row = R"({"update_type":"start","id":2,"parent_id":1,)"
                    R"("start_time":"2021-01-01T12:30:00Z","data":{"Name":"P",)"
                    R"("L":[1,{"a":null}],"U":"\u00e9"}})";
  for (std::size_t n = 1; n < row.size(); ++n) {
    process_update u;
    std::string err;
    auto r = decode_update_row(row.substr(0, n), u, err);
    bool nl_ok =
        !nlohmann::json::parse(row.substr(0, n), nullptr, false).is_discarded();
    BOOST_TEST((r == row_result::update) == nl_ok, "prefix " << n);
  }
  ok(row);
}

// Issue 15: text that is not valid Unicode costs the text, not the row.
// Each invalid UTF-8 byte and each lone-surrogate escape becomes U+FFFD and
// is counted; valid pairs and escaped backslashes are left alone.
BOOST_AUTO_TEST_CASE(bad_text_becomes_u_fffd) {
  const std::string fffd = "\xEF\xBF\xBD";
  auto decode = [](const std::string &line, std::int64_t &n) {
    process_update u;
    std::string err;
    auto r = decode_update_row(line, u, err, &n);
    BOOST_TEST_INFO("line: " << line << " error: " << err);
    BOOST_REQUIRE(r == row_result::update);
    return u;
  };
  std::int64_t n = 0;
  auto u =
      decode(R"({"update_type":"start","id":2,"data":{"C":"a\ud800b"}})", n);
  BOOST_TEST(n == 1);
  BOOST_REQUIRE(u.process.data.size() == 1u);
  BOOST_TEST(u.process.data[0].json == "\"a" + fffd + "b\"");
  // Raw bytes: a stray Latin-1 byte, a cut sequence, an encoded surrogate.
  n = 0;
  u = decode("{\"update_type\":\"start\",\"id\":2,\"data\":{\"U\":\"Jos\xe9\","
             "\"V\":\"\xe2\x82\",\"W\":\"\xed\xa0\x80\"}}",
             n);
  BOOST_TEST(n == 6);
  BOOST_REQUIRE(u.process.data.size() == 3u);
  BOOST_TEST(u.process.data[0].json == "\"Jos" + fffd + "\"");
  BOOST_TEST(u.process.data[1].json == "\"" + fffd + fffd + "\"");
  BOOST_TEST(u.process.data[2].json == "\"" + fffd + fffd + fffd + "\"");
  // A low surrogate alone, a high one before a non-surrogate, in a key, in a
  // nested value and in a sync's listing.
  n = 0;
  u = decode(R"({"update_type":"sync","time":1,"processes":[{"id":3,)"
             R"("data":{"K\udc00":"\ud83dx","H":{"S":["\udfff"]}}}]})",
             n);
  BOOST_TEST(n == 3);
  BOOST_REQUIRE(u.processes.size() == 1u);
  auto &d = u.processes[0].data;
  BOOST_REQUIRE(d.size() == 2u);
  BOOST_TEST(d[0].key == "K" + fffd);
  BOOST_TEST(d[0].json == "\"" + fffd + "x\"");
  BOOST_TEST(d[1].json == "{\"S\":[\"" + fffd + "\"]}");
  // Valid text is untouched and not counted.
  n = 0;
  u = decode(R"({"update_type":"start","id":2,"data":{"E":"\ud83d\ude00",)"
             R"("B":"\\ud800","L":"é"}})",
             n);
  BOOST_TEST(n == 0);
  BOOST_TEST(u.process.data[0].json == R"("\ud83d\ude00")");
  BOOST_TEST(u.process.data[1].json == R"("\\ud800")");
  // Without a counter the row is decoded the same.
  BOOST_TEST(
      ok("{\"update_type\":\"start\",\"id\":2,\"data\":{\"N\":\"\xff\"}}")
          .process.data[0]
          .json
      == "\"" + fffd + "\"");
  // A row that is still bad (torn) is an error and counts nothing.
  n = 0;
  process_update torn;
  std::string err;
  BOOST_TEST(
      (decode_update_row("{\"update_type\":\"start\",\"id\":2,\"x\":\"\xff",
                         torn, err, &n)
       == row_result::error));
  BOOST_TEST(n == 0);
}

BOOST_AUTO_TEST_SUITE_END() // update_row_decoder_test
