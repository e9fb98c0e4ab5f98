#include "actors/output/output_writer.hpp"

#include "actors/common/posix_io.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <sys/stat.h>

namespace proctrack {

output_writer_state::~output_writer_state() {
  if (owned && fd >= 0)
    ::close(fd);
}

namespace {

using self_ptr = output_writer_actor::stateful_pointer<output_writer_state>;

// Opens the output for appending, private to root: it holds command lines.
int open_output(const std::string &path) {
  return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
}

// Writes all of `text`, or gives errno and, in a regular file, cuts off
// what was written of it.
int write_whole(output_writer_state &st, const std::string &text) {
  off_t start = st.regular ? ::lseek(st.fd, 0, SEEK_END) : -1;
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(st.fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      if (done > 0 && start >= 0 && ::ftruncate(st.fd, start) != 0)
        spdlog::error("output: could not cut off a torn row: {}",
                      std::strerror(errno));
      return err;
    }
    done += static_cast<std::size_t>(n);
  }
  return 0;
}

// Writes what is pending, oldest first, until a write fails.
void drain(self_ptr self) {
  auto &st = self->state;
  while (!st.pending.empty()) {
    int err = write_whole(st, st.pending.front());
    if (err == EPIPE) {
      spdlog::critical("output: the reader of the stream is gone (EPIPE); "
                       "stopping, exit status 1");
      spdlog::default_logger()->flush();
      std::_Exit(1);
    }
    if (err != 0) {
      ++st.write_errors;
      if (!st.failing)
        spdlog::warn("output: write failed ({}); keeping up to {} MiB of rows "
                     "and retrying every second",
                     std::strerror(err),
                     output_writer_state::max_pending_bytes >> 20);
      st.failing = true;
      return;
    }
    st.pending_bytes -= st.pending.front().size();
    st.pending.pop_front();
  }
  if (st.failing)
    spdlog::info("output: writing again ({} failed writes, {} messages "
                 "dropped so far)",
                 st.write_errors, st.dropped);
  st.failing = false;
}

} // namespace

output_writer_actor::behavior_type output_writer(self_ptr self,
                                                 std::string path) {
  auto &st = self->state;
  st.fd = STDOUT_FILENO;
  if (!path.empty()) {
    st.fd = open_output(path);
    st.owned = st.fd >= 0;
    if (st.fd < 0) {
      spdlog::error("cannot open output {}: {}", path, std::strerror(errno));
      st.fd = STDOUT_FILENO;
    }
  }
  struct stat sb {};
  st.regular = ::fstat(st.fd, &sb) == 0 && S_ISREG(sb.st_mode);
  self->delayed_send(self, std::chrono::seconds(1), atom::tick_v);
  return {
      [self](const std::string &lines) {
        auto &st = self->state;
        ++st.lines;
        st.pending.push_back(lines);
        st.pending_bytes += lines.size();
        while (st.pending_bytes > output_writer_state::max_pending_bytes
               && st.pending.size() > 1) {
          st.pending_bytes -= st.pending.front().size();
          st.pending.pop_front();
          ++st.dropped;
        }
        drain(self);
      },
      [self](atom::tick) {
        drain(self);
        self->delayed_send(self, std::chrono::seconds(1), atom::tick_v);
      },
      [self](atom::stats) -> stats_report {
        auto &st = self->state;
        return {output_writer_state::name,
                {{"OutputMessages", st.lines},
                 {"OutputWriteErrors", st.write_errors},
                 {"OutputDropped", st.dropped},
                 {"OutputPendingBytes",
                  static_cast<std::int64_t>(st.pending_bytes)},
                 {"MailboxOutput",
                  static_cast<std::int64_t>(self->mailbox().size())}}};
      },
  };
}

output_writer_actor spawn_output_writer(caf::actor_system &sys,
                                        const std::string &path,
                                        std::string &error) {
  if (!path.empty()) {
    // Check here, so a bad path is a clear exit 2 before the agent starts.
    int fd = open_output(path);
    if (fd < 0) {
      error = "cannot open output.path " + path + ": " + std::strerror(errno);
      return {};
    }
    ::close(fd);
  }
  // Writes may block (a slow pipe): a thread of its own.
  return sys.spawn<caf::detached>(output_writer, path);
}

} // namespace proctrack
