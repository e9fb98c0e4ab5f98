// The libevtx engine of evtx_reader (the oracle of the binxml engine) and
// libevtx's verdict on a file whose header is flagged dirty. Linux only:
// there is no libevtx for mingw-w64 in Debian (evtx_reader_windows.cpp).
#include "actors/ingest/evtx_reader.hpp"

// Debian's libevtx.h includes <libbfio.h> on POSIX, but libevtx-dev does
// not depend on libbfio-dev. Nothing here uses the libbfio entry points, so
// when the header is missing, hide them (features.h has an include guard).
#if !__has_include(<libbfio.h>)
#include <libevtx/features.h>
#undef LIBEVTX_HAVE_BFIO
#endif
#include <libevtx.h>

#include <cstring>

namespace proctrack {

namespace {

// The innermost (first) message of a libevtx error, then frees it.
std::string take_message(libevtx_error_t *&err) {
  if (err == nullptr)
    return "unknown error";
  char buf[2048] = {0};
  libevtx_error_backtrace_sprint(err, buf, sizeof(buf));
  libevtx_error_free(&err);
  err = nullptr;
  std::string s(buf);
  // Keep the first (most specific) line.
  auto nl = s.find('\n');
  if (nl != std::string::npos)
    s.resize(nl);
  while (!s.empty() && (s.back() == '.' || s.back() == ' '))
    s.pop_back();
  return s.empty() ? std::string("unknown error") : s;
}

} // namespace

void evtx_reader::close_libevtx() {
  if (file_ != nullptr) {
    auto f = static_cast<libevtx_file_t *>(file_);
    libevtx_file_close(f, nullptr);
    libevtx_file_free(&f, nullptr);
    file_ = nullptr;
  }
}

void evtx_reader::libevtx_verdict() {
  libevtx_file_t *f = nullptr;
  libevtx_error_t *e = nullptr;
  if (libevtx_file_initialize(&f, &e) == 1
      && libevtx_file_open(f, path_.c_str(), LIBEVTX_OPEN_READ, &e) == 1) {
    if (libevtx_file_is_corrupted(f, &e) == 1 && stats_.damaged_chunks == 0
        && !slack_)
      error("libevtx reports the file as corrupted");
    libevtx_file_close(f, nullptr);
  }
  if (f != nullptr)
    libevtx_file_free(&f, nullptr);
  if (e != nullptr)
    libevtx_error_free(&e);
}

bool evtx_reader::open_libevtx(std::string &err_msg) {
  libevtx_file_t *f = nullptr;
  libevtx_error_t *e = nullptr;
  if (libevtx_file_initialize(&f, &e) != 1) {
    err_msg = path_ + ": libevtx: " + take_message(e);
    return false;
  }
  if (libevtx_file_open(f, path_.c_str(), LIBEVTX_OPEN_READ, &e) != 1) {
    err_msg = path_ + ": not a readable EVTX file: " + take_message(e);
    libevtx_file_free(&f, nullptr);
    return false;
  }
  file_ = f;
  if (libevtx_file_get_number_of_records(f, &count_, &e) != 1) {
    error("cannot count records: " + take_message(e));
    count_ = 0;
  }
  index_ = 0;
  scan_chunks(true);
  // libevtx also calls a file corrupted for unused slack at its end, which
  // scan_chunks() dismisses; report its verdict only when the scan has no
  // better explanation.
  if (libevtx_file_is_corrupted(f, &e) == 1 && stats_.damaged_chunks == 0
      && !slack_)
    error("libevtx reports the file as corrupted");
  if (e != nullptr)
    libevtx_error_free(&e);
  return true;
}

bool evtx_reader::next_libevtx(sysmon_event &ev) {
  auto f = static_cast<libevtx_file_t *>(file_);
  if (f == nullptr)
    return false;
  while (index_ < count_) {
    int i = index_++;
    libevtx_record_t *rec = nullptr;
    libevtx_error_t *e = nullptr;
    auto where = [&] {
      return "record index " + std::to_string(i) + " (after record "
             + std::to_string(last_id_) + ")";
    };
    if (libevtx_file_get_record_by_index(f, i, &rec, &e) != 1
        || rec == nullptr) {
      ++stats_.corrupt_records;
      error(where() + ": unreadable: " + take_message(e));
      continue;
    }
    std::uint64_t id = 0;
    bool have_id = libevtx_record_get_identifier(rec, &id, &e) == 1;
    if (!have_id && e != nullptr)
      libevtx_error_free(&e);
    if (!wanted_.empty()) {
      std::uint32_t eid = 0;
      if (libevtx_record_get_event_identifier(rec, &eid, &e) == 1) {
        bool want = false;
        for (auto w : wanted_)
          want = want || w == static_cast<std::int64_t>(eid);
        if (!want) {
          libevtx_record_free(&rec, nullptr);
          if (have_id)
            last_id_ = id;
          ++stats_.filtered;
          ++stats_.filtered_by_event_id[eid];
          continue;
        }
      } else if (e != nullptr) {
        libevtx_error_free(&e); // render it and let the XML decide
      }
    }
    std::string name = have_id ? "record " + std::to_string(id) : where();
    std::size_t size = 0;
    bool ok = libevtx_record_get_utf8_xml_string_size(rec, &size, &e) == 1
              && size > 0;
    if (ok) {
      xml_.resize(size);
      ok = libevtx_record_get_utf8_xml_string(
               rec, reinterpret_cast<uint8_t *>(xml_.data()), size, &e)
           == 1;
    }
    libevtx_record_free(&rec, nullptr);
    if (!ok) {
      ++stats_.corrupt_records;
      error(name + ": cannot render: " + take_message(e));
      continue;
    }
    if (have_id)
      last_id_ = id;
    std::size_t len = std::strlen(xml_.c_str());
    std::string why;
    if (!parse_event_xml(xml_.data(), len, ev, why, &stats_.invalid_text)) {
      ++stats_.corrupt_records;
      error(name + ": " + why);
      continue;
    }
    if (ev.record_number == 0 && have_id)
      ev.record_number = id;
    ++stats_.records;
    return true;
  }
  return false;
}

} // namespace proctrack
