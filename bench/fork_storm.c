// The fork storm of bench/live_cpu.sh: N processes, each a fork + execv of
// PROG (default /bin/true) + exit, started by W forkers at once, every one
// reaped. Each process costs the agent three kernel events (fork, exec,
// exit); the agent's own KernelEvents counter is what the bench divides by.
// usage: fork_storm N [W [PROG]]     prints "processes=N seconds=S"
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int one(const char *prog) {
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    char *const argv[] = {(char *)prog, NULL};
    execv(prog, argv);
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: fork_storm N [W [PROG]]\n");
    return 2;
  }
  long n = atol(argv[1]);
  int w = argc > 2 ? atoi(argv[2]) : 2;
  const char *prog = argc > 3 ? argv[3] : "/bin/true";
  if (n <= 0 || w <= 0) {
    fprintf(stderr, "fork_storm: N and W must be positive\n");
    return 2;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < w; ++i) {
    pid_t f = fork();
    if (f < 0) {
      perror("fork_storm: fork");
      return 1;
    }
    if (f == 0) {
      long mine = n / w + (i < n % w ? 1 : 0);
      int failed = 0;
      for (long k = 0; k < mine; ++k)
        failed += one(prog) != 0;
      _exit(failed ? 1 : 0);
    }
  }
  int bad = 0, status = 0;
  while (wait(&status) > 0)
    bad += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("processes=%ld seconds=%.3f\n", n,
         (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
  return bad ? 1 : 0;
}
