// The differential test's workload (tests/live_differential_test.cpp): a
// generated mix of at least N processes whose truth each process records
// itself, one JSON line per process (the last line of a pid+ticks wins):
//   {"pid","ticks","ppid","pticks","name","exe","cmdline","end"}
// ticks are /proc/PID/stat field 22 (start, clock ticks since boot); ppid
// and pticks name the CREATOR (not a reaper); name/exe/cmdline are the
// final image as /proc shows it (cmdline NULs as spaces); end is "exited"
// or "running" (keepers, which pause() until the test kills them).
// Kinds: fork only, fork+exec, a thread's execve(), double fork, renames
// (prctl PR_SET_NAME), zombies held ~300 ms, same-second pid reuse through
// /proc/sys/kernel/ns_last_pid (root), keepers.
// usage: live_workload TRUTH N            (the main process)
//        live_workload --child TRUTH KIND PPID PTICKS   (exec'd roles)
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *truth;
static char self_exe[512];

static void msleep(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

static unsigned long long ticks_of(int pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return 0;
  ssize_t r = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (r <= 0)
    return 0;
  buf[r] = 0;
  char *c = strrchr(buf, ')');
  if (!c)
    return 0;
  int field = 2;
  for (char *p = c + 1; *p; ++p)
    if (*p == ' ' && ++field == 22)
      return strtoull(p + 1, NULL, 10);
  return 0;
}

static void json_str(char *out, size_t n, const char *s) {
  size_t o = 0;
  out[o++] = '"';
  for (; *s && o + 8 < n; ++s) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') {
      out[o++] = '\\';
      out[o++] = (char)ch;
    } else if (ch < 0x20) {
      o += (size_t)snprintf(out + o, n - o, "\\u%04x", ch);
    } else {
      out[o++] = (char)ch;
    }
  }
  out[o++] = '"';
  out[o] = 0;
}

static void read_text(const char *path, char *out, size_t n, int nul_to_space) {
  out[0] = 0;
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return;
  ssize_t r = read(fd, out, n - 1);
  close(fd);
  if (r < 0)
    r = 0;
  out[r] = 0;
  while (r > 0 && (out[r - 1] == 0 || (!nul_to_space && out[r - 1] == '\n')))
    out[--r] = 0;
  if (nul_to_space)
    for (ssize_t i = 0; i < r; ++i)
      if (out[i] == 0)
        out[i] = ' ';
}

// Writes this process's truth line (its image as /proc shows it now).
static void record(int ppid, unsigned long long pticks, const char *end) {
  char comm[64], exe[512] = {0}, cmd[1024], jc[160], je[1100], jm[2100];
  read_text("/proc/self/comm", comm, sizeof comm, 0);
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0)
    exe[n] = 0;
  read_text("/proc/self/cmdline", cmd, sizeof cmd, 1);
  json_str(jc, sizeof jc, comm);
  json_str(je, sizeof je, exe);
  json_str(jm, sizeof jm, cmd);
  char line[4096];
  int len =
      snprintf(line, sizeof line,
               "{\"pid\":%d,\"ticks\":%llu,\"ppid\":%d,\"pticks\":%llu,"
               "\"name\":%s,\"exe\":%s,\"cmdline\":%s,\"end\":\"%s\"}\n",
               getpid(), ticks_of(getpid()), ppid, pticks, jc, je, jm, end);
  int fd = open(truth, O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (fd >= 0) {
    if (write(fd, line, (size_t)len) != len)
      perror("truth");
    close(fd);
  }
}

static int me;
static unsigned long long my_ticks;

static void become_child(void) {
  int parent = me;
  unsigned long long pt = my_ticks;
  me = getpid();
  my_ticks = ticks_of(me);
  (void)parent;
  (void)pt;
}

static void exec_role(const char *kind, int ppid, unsigned long long pticks) {
  char a[32], b[32];
  snprintf(a, sizeof a, "%d", ppid);
  snprintf(b, sizeof b, "%llu", pticks);
  execl(self_exe, "live_workload", "--child", truth, kind, a, b, (char *)NULL);
  _exit(127);
}

struct thread_arg {
  int ppid;
  unsigned long long pticks;
};

static void *thread_exec(void *p) {
  struct thread_arg *t = p;
  msleep(5);
  exec_role("T", t->ppid, t->pticks);
  return NULL;
}

// One process of kind k, a child of main (me/my_ticks are main's).
static void spawn(int k, int i) {
  int ppid = me;
  unsigned long long pt = my_ticks;
  pid_t c = fork();
  if (c != 0)
    return;
  become_child();
  switch (k) {
  case 0: // fork only, gone at once
    record(ppid, pt, "exited");
    _exit(0);
  case 1: // fork + exec
    exec_role("E", ppid, pt);
    break;
  case 2: { // a thread's execve(): same pid, new image
    static struct thread_arg t;
    t.ppid = ppid;
    t.pticks = pt;
    pthread_t th;
    pthread_create(&th, NULL, thread_exec, &t);
    pause();
    _exit(1);
  }
  case 3: { // double fork: the grandchild is reparented
    record(ppid, pt, "exited");
    int mid = me;
    unsigned long long mt = my_ticks;
    if (fork() == 0) {
      become_child();
      msleep(50); // reparented by now
      record(mid, mt, "exited");
      msleep(50);
      _exit(0);
    }
    _exit(0);
  }
  case 4: { // rename
    char name[16];
    snprintf(name, sizeof name, "wl-ren-%d", i % 10000);
    prctl(PR_SET_NAME, name, 0, 0, 0);
    record(ppid, pt, "exited");
    if (i % 2)
      msleep(100);
    _exit(0);
  }
  case 5: { // zombies: five children reaped after 300 ms
    record(ppid, pt, "exited");
    int zp = me;
    unsigned long long zt = my_ticks;
    for (int z = 0; z < 5; ++z)
      if (fork() == 0) {
        become_child();
        record(zp, zt, "exited");
        _exit(0);
      }
    msleep(300);
    while (wait(NULL) > 0) {
    }
    _exit(0);
  }
  }
  _exit(0);
}

// Same-second pid reuse: A exits, B gets A's pid through ns_last_pid.
static void pid_reuse(int round) {
  int ppid = me;
  unsigned long long pt = my_ticks;
  pid_t a = fork();
  if (a == 0) {
    become_child();
    record(ppid, pt, "exited");
    _exit(0);
  }
  waitpid(a, NULL, 0);
  int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY);
  if (fd >= 0) {
    char num[32];
    int n = snprintf(num, sizeof num, "%d", a - 1);
    if (write(fd, num, (size_t)n) != n)
      perror("ns_last_pid");
    close(fd);
  }
  pid_t b = fork();
  if (b == 0) {
    become_child();
    if (round % 2)
      exec_role("E", ppid, pt);
    record(ppid, pt, "exited");
    msleep(20);
    _exit(0);
  }
}

static void reap_some(int *outstanding, int limit) {
  while (*outstanding > limit) {
    if (wait(NULL) > 0)
      --*outstanding;
    else
      break;
  }
  while (*outstanding > 0 && waitpid(-1, NULL, WNOHANG) > 0)
    --*outstanding;
}

int main(int argc, char **argv) {
  ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
  if (n <= 0)
    return 2;
  self_exe[n] = 0;
  if (argc == 6 && strcmp(argv[1], "--child") == 0) {
    truth = argv[2];
    int ppid = atoi(argv[4]);
    unsigned long long pt = strtoull(argv[5], NULL, 10);
    record(ppid, pt, "exited");
    msleep(400);
    return 0;
  }
  if (argc != 3) {
    fprintf(stderr, "usage: %s TRUTH N\n", argv[0]);
    return 2;
  }
  truth = argv[1];
  int total = atoi(argv[2]);
  signal(SIGCHLD, SIG_DFL);
  me = getpid();
  my_ticks = ticks_of(me);
  record(getppid(), ticks_of(getppid()), "exited");
  // keepers: running when the test asks
  for (int k = 0; k < 3; ++k) {
    int ppid = me;
    unsigned long long pt = my_ticks;
    if (fork() == 0) {
      become_child();
      // Keepers outlive the workload: they must not hold its caller's pipes.
      int null = open("/dev/null", O_RDWR);
      if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        close(null);
      }
      char name[16];
      snprintf(name, sizeof name, "wl-keep-%d", k);
      prctl(PR_SET_NAME, name, 0, 0, 0);
      record(ppid, pt, "running");
      setsid();
      for (;;)
        pause();
    }
  }
  // Processes per kind, in one round of 14: how many each round makes.
  // 0 F:1, 1 E:1, 2 T:1, 3 D:2, 4 R:1, 5 Z:6 -> 12, plus a reuse pair: 14.
  int made = 4, outstanding = 3 + 0, round = 0;
  outstanding = 0; // keepers are never waited for
  while (made < total) {
    for (int k = 0; k <= 5; ++k) {
      spawn(k, round);
      ++outstanding;
      made += k == 3 ? 2 : k == 5 ? 6 : 1;
    }
    pid_reuse(round);
    outstanding += 1;
    made += 2;
    ++round;
    reap_some(&outstanding, 24);
    msleep(2);
  }
  // Wait for everything but the keepers (they never end by themselves).
  while (outstanding > 0 && wait(NULL) > 0)
    --outstanding;
  fprintf(stderr, "live_workload: %d processes in %d rounds\n", made, round);
  return 0;
}
