#include "actors/output/output_writer.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

namespace proctrack {

output_writer_state::~output_writer_state() {
  if (out) {
    std::fflush(out);
    if (owned)
      std::fclose(out);
  }
}

output_writer_actor::behavior_type
output_writer(output_writer_actor::stateful_pointer<output_writer_state> self,
              std::string path) {
  auto &st = self->state;
  if (path.empty()) {
    st.out = stdout;
  } else {
    st.out = std::fopen(path.c_str(), "a");
    st.owned = st.out != nullptr;
    if (!st.out) {
      spdlog::error("cannot open output {}: {}", path, std::strerror(errno));
      st.out = stdout;
    }
  }
  return {
      [self](const std::string &lines) {
        auto &st = self->state;
        if (std::fwrite(lines.data(), 1, lines.size(), st.out) != lines.size()
            || std::fflush(st.out) != 0)
          ++st.write_errors;
        ++st.lines;
      },
      [self](atom::stats) -> stats_report {
        auto &st = self->state;
        return {output_writer_state::name,
                {{"OutputMessages", st.lines},
                 {"OutputWriteErrors", st.write_errors},
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
    std::FILE *f = std::fopen(path.c_str(), "a");
    if (!f) {
      error = "cannot open output.path " + path + ": " + std::strerror(errno);
      return {};
    }
    std::fclose(f);
  }
  // Writes may block (a slow pipe): a thread of its own.
  return sys.spawn<caf::detached>(output_writer, path);
}

} // namespace proctrack
