// Runs the real `proctrack` binary for end-to-end tests: fork/exec with
// arguments (no shell), optional stdin text, stdout and stderr captured,
// exit status, and a timeout after which the child is killed. Plus helpers
// to write input files into a fresh temp directory and to parse the
// replay's JSON-lines output.
#pragma once

#include <nlohmann/json.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace proctrack_test {

struct run_result {
  int status = -1; ///< exit code; -1 if killed or not run
  bool timed_out = false;
  std::string out; ///< stdout
  std::string err; ///< stderr
};

/// The binary under test: $PROCTRACK_BIN (set by ctest).
inline std::string binary() {
  const char *b = std::getenv("PROCTRACK_BIN");
  if (!b || !*b)
    throw std::runtime_error("PROCTRACK_BIN is not set (run through ctest)");
  return b;
}

/// In a forked child: runs argv[0] with `argv` (no shell, no PATH
/// lookup); exits 127 when that fails.
[[noreturn]] inline void exec_or_exit(const std::vector<std::string> &argv) {
  std::vector<char *> args;
  for (auto &a : argv)
    args.push_back(const_cast<char *>(a.c_str()));
  args.push_back(nullptr);
  if (!argv.empty())
    execv(args[0], args.data());
  _exit(127);
}

/// A child whose standard input is a pipe the test writes to (`input`,
/// closed by the test), its stdout and stderr /dev/null: a replay that
/// reads "-" for as long as the test keeps the pipe open.
struct piped_child {
  pid_t pid = -1;
  int input = -1;
};

/// Starts `argv` (argv[0] the program, no PATH lookup) as a piped_child,
/// with `env` (name, value) set in it first. Throws when pipe or fork
/// fails.
inline piped_child start_with_input(
    const std::vector<std::string> &argv,
    const std::vector<std::pair<std::string, std::string>> &env = {}) {
  int in[2];
  if (pipe(in) != 0)
    throw std::runtime_error(std::string{"pipe: "} + std::strerror(errno));
  pid_t pid = fork();
  if (pid < 0)
    throw std::runtime_error(std::string{"fork: "} + std::strerror(errno));
  if (pid == 0) {
    dup2(in[0], 0);
    close(in[0]);
    close(in[1]);
    int null = ::open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    for (auto &[name, value] : env)
      setenv(name.c_str(), value.c_str(), 1);
    exec_or_exit(argv);
  }
  close(in[0]);
  return {pid, in[1]};
}

/// Runs `program args...`; `input` is written to its stdin (then closed).
inline run_result
run(const std::string &program, const std::vector<std::string> &args,
    const std::string &input = {},
    std::chrono::seconds timeout = std::chrono::seconds(120)) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe(in_pipe) != 0 || pipe(out_pipe) != 0 || pipe(err_pipe) != 0)
    throw std::runtime_error(std::string{"pipe: "} + std::strerror(errno));
  pid_t pid = fork();
  if (pid < 0)
    throw std::runtime_error(std::string{"fork: "} + std::strerror(errno));
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1],
                   err_pipe[0], err_pipe[1]})
      close(fd);
    std::vector<std::string> argv{program};
    argv.insert(argv.end(), args.begin(), args.end());
    exec_or_exit(argv);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  signal(SIGPIPE, SIG_IGN);
  for (int fd : {in_pipe[1], out_pipe[0], err_pipe[0]})
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  run_result r;
  std::size_t written = 0;
  int in_fd = in_pipe[1];
  if (input.empty()) {
    close(in_fd);
    in_fd = -1;
  }
  bool out_open = true, err_open = true;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  while (out_open || err_open) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) {
      r.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    pollfd fds[3];
    int n = 0;
    int out_i = -1, err_i = -1, in_i = -1;
    if (out_open)
      out_i = n, fds[n++] = {out_pipe[0], POLLIN, 0};
    if (err_open)
      err_i = n, fds[n++] = {err_pipe[0], POLLIN, 0};
    if (in_fd >= 0)
      in_i = n, fds[n++] = {in_fd, POLLOUT, 0};
    if (poll(fds, n, static_cast<int>(std::min<long long>(left, 1000))) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    auto drain = [&](int i, int fd, std::string &to, bool &open) {
      if (i < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
        return;
      ssize_t got = read(fd, buf, sizeof buf);
      if (got > 0)
        to.append(buf, static_cast<std::size_t>(got));
      else if (got == 0 || (errno != EAGAIN && errno != EINTR))
        open = false;
    };
    drain(out_i, out_pipe[0], r.out, out_open);
    drain(err_i, err_pipe[0], r.err, err_open);
    if (in_i >= 0 && (fds[in_i].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t w = write(in_fd, input.data() + written, input.size() - written);
      if (w > 0)
        written += static_cast<std::size_t>(w);
      if (w < 0 && errno != EAGAIN && errno != EINTR)
        written = input.size();
      if (written >= input.size()) {
        close(in_fd);
        in_fd = -1;
      }
    }
  }
  if (in_fd >= 0)
    close(in_fd);
  close(out_pipe[0]);
  close(err_pipe[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (!r.timed_out && WIFEXITED(st))
    r.status = WEXITSTATUS(st);
  return r;
}

/// `proctrack ARGS...`
inline run_result proctrack(const std::vector<std::string> &args,
                            const std::string &input = {}) {
  return run(binary(), args, input);
}

/// A fresh directory under the system temp dir, removed on destruction.
class temp_dir {
public:
  temp_dir() {
    std::random_device rd;
    auto base = std::filesystem::temp_directory_path();
    for (int i = 0; i < 100; ++i) {
      auto p = base
               / ("proctrack-e2e-" + std::to_string(getpid()) + "-"
                  + std::to_string(rd()));
      if (std::filesystem::create_directory(p)) {
        path_ = p;
        return;
      }
    }
    throw std::runtime_error("cannot create a temp directory");
  }
  /// Removed on destruction unless PROCTRACK_KEEP_TEMP is set (for
  /// reading a failed run's files afterwards).
  ~temp_dir() {
    if (std::getenv("PROCTRACK_KEEP_TEMP") != nullptr)
      return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir &) = delete;
  temp_dir &operator=(const temp_dir &) = delete;

  const std::filesystem::path &path() const {
    return path_;
  }
  /// Writes `text` to NAME in the directory; returns the full path.
  std::string write(const std::string &name, const std::string &text) const {
    auto p = path_ / name;
    std::ofstream f{p, std::ios::binary};
    f << text;
    if (!f)
      throw std::runtime_error("cannot write " + p.string());
    return p.string();
  }
  /// Writes one line per element.
  std::string write_lines(const std::string &name,
                          const std::vector<std::string> &lines) const {
    std::string text;
    for (auto &l : lines)
      text += l + "\n";
    return write(name, text);
  }

private:
  std::filesystem::path path_;
};

/// Every non-empty stdout line, parsed as JSON (throws on a bad line).
inline std::vector<nlohmann::json> json_lines(const std::string &out) {
  std::vector<nlohmann::json> rows;
  std::istringstream in{out};
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos)
      continue;
    rows.push_back(nlohmann::json::parse(line));
  }
  return rows;
}

/// The `result` of each {"query":Q,"result":R} line, in order; checks that
/// the queries come back in the order asked.
inline std::vector<nlohmann::json>
results(const run_result &r, const std::vector<std::string> &queries) {
  auto rows = json_lines(r.out);
  if (rows.size() != queries.size())
    throw std::runtime_error("expected " + std::to_string(queries.size())
                             + " result lines, got "
                             + std::to_string(rows.size()) + "\nstdout:\n"
                             + r.out + "\nstderr:\n" + r.err);
  std::vector<nlohmann::json> out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].value("query", std::string{}) != queries[i])
      throw std::runtime_error("line " + std::to_string(i + 1) + " answers "
                               + rows[i].dump() + ", expected query "
                               + queries[i]);
    out.push_back(rows[i].at("result"));
  }
  return out;
}

/// Runs `proctrack replay FILE FLAGS... --query=Q...` and returns the
/// results in query order; the run must exit 0.
struct replay_output {
  run_result run;
  std::vector<nlohmann::json> results;
  const nlohmann::json &operator[](std::size_t i) const {
    return results.at(i);
  }
};

inline replay_output replay(const std::string &file,
                            const std::vector<std::string> &queries,
                            const std::vector<std::string> &flags = {}) {
  std::vector<std::string> args{"replay", file};
  args.insert(args.end(), flags.begin(), flags.end());
  for (auto &q : queries)
    args.push_back("--query=" + q);
  replay_output o;
  o.run = proctrack(args);
  if (o.run.status != 0)
    throw std::runtime_error("proctrack replay exited "
                             + std::to_string(o.run.status) + "\nstderr:\n"
                             + o.run.err);
  o.results = results(o.run, queries);
  return o;
}

/// The value of counter NAME in a stats result (an object, or a list of
/// {"name":..,"value":..}); throws when absent.
inline long long counter_of(const nlohmann::json &stats,
                            const std::string &name) {
  if (stats.is_object()) {
    if (stats.contains(name))
      return stats.at(name).get<long long>();
    for (auto &[k, v] : stats.items())
      if (v.is_object() && v.contains(name) && v.at(name).is_number())
        return v.at(name).get<long long>();
  }
  throw std::runtime_error("stats has no " + name + ": " + stats.dump());
}

/// Ids of a list of process entries, in order.
inline std::vector<std::string> ids(const nlohmann::json &entries) {
  std::vector<std::string> out;
  for (auto &e : entries)
    out.push_back(e.at("Id").get<std::string>());
  return out;
}

/// The entry with Id `id` in a pslist result, or null.
inline nlohmann::json entry(const nlohmann::json &pslist,
                            const std::string &id) {
  for (auto &e : pslist)
    if (e.at("Id") == id)
      return e;
  return nullptr;
}

inline const char *zero_time = "0001-01-01T00:00:00Z";

/// The next line a child writes to `fd` (without its newline), read byte by
/// byte so nothing after it is consumed; empty when none came within
/// `timeout` or the pipe closed first.
inline std::string read_line(int fd, std::chrono::milliseconds timeout) {
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0)
      continue;
    char c;
    if (read(fd, &c, 1) != 1)
      break;
    if (c == '\n')
      return line;
    line += c;
  }
  return {};
}

} // namespace proctrack_test
