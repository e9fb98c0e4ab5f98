// libFuzzer target: proctrack::sysmon_linux_reader on one arbitrary file
// (the input, written to a memfd and read through /proc/self/fd/N as a
// replay reads a path), every event turned into an update as replay does,
// and the journal JSON and syslog line parsers on the input's first line.
// Besides the sanitizers it checks that the reader's counters agree with
// what it returned, that every string it hands on is valid UTF-8 (bad text
// is replaced, never passed through), and that a refused event says why.
// Seeds: the corpus's Sysmon for Linux logs and the test inputs
// (scripts/fuzz.sh).
#include "actors/ingest/sysmon_event.hpp"
#include "actors/ingest/sysmon_linux_reader.hpp"
#include "tests/fuzz/valid_utf8.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace {

using proctrack_fuzz::valid_utf8;

void check(bool ok) {
  if (!ok)
    std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data,
                                      std::size_t size) {
  std::string_view input(reinterpret_cast<const char *>(data), size);
  {
    auto nl = input.find('\n');
    auto first = input.substr(0, nl);
    std::string message, ident, comm, uid, host;
    proctrack::parse_journal_json(first, message, ident, comm, uid, host);
    proctrack::syslog_line parts;
    if (proctrack::split_syslog_line(first, parts))
      check(parts.text.size() <= first.size());
  }
  int fd = memfd_create("sysmon-linux-fuzz", 0);
  if (fd < 0)
    return 0;
  for (std::size_t done = 0; done < size;) {
    auto n = write(fd, data + done, size - done);
    if (n <= 0) {
      close(fd);
      return 0;
    }
    done += static_cast<std::size_t>(n);
  }
  proctrack::sysmon_linux_reader reader("/proc/self/fd/" + std::to_string(fd));
  std::string error;
  if (reader.open(error)) {
    proctrack::sysmon_event ev;
    std::uint64_t events = 0;
    while (reader.next(ev)) {
      ++events;
      check(valid_utf8(ev.computer) && valid_utf8(ev.provider));
      for (auto &[name, value] : ev.fields)
        check(valid_utf8(name) && valid_utf8(value));
      std::string why_not;
      auto update = proctrack::to_update(ev, why_not, true);
      check(update || !why_not.empty());
    }
    check(events == reader.stats().records);
    for (auto &e : reader.take_errors())
      check(!e.empty());
  } else {
    check(!error.empty());
  }
  close(fd);
  return 0;
}
