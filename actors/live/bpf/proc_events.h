/* The record the eBPF live source (proc_events.bpf.c) writes to its ring
 * buffer, one per process event, shared by the BPF program (C, clang -target
 * bpf) and user space (ebpf_translator.cpp decodes it with bounds checks).
 * Little-endian host layout, fixed-size header then `data`: the executable's
 * path (exe_len bytes, no NUL), then the command line's raw bytes as in the
 * process's argument area (args_len bytes, NUL-separated, as
 * /proc/PID/cmdline). Kernel time and start times are CLOCK_BOOTTIME ns, the
 * clock of /proc/PID/stat's start ticks. */
#ifndef PROCTRACK_BPF_PROC_EVENTS_H
#define PROCTRACK_BPF_PROC_EVENTS_H

#define PT_EV_FORK 1 /* a new process (thread-group leader) was made */
#define PT_EV_EXEC 2 /* a process ran a new image */
#define PT_EV_EXIT 3 /* the last thread of a process ended */
#define PT_EV_COMM 4 /* a process renamed itself (prctl, /proc/PID/comm) */

#define PT_EXE_MAX 4096   /* bytes of the executable's path at most */
#define PT_ARGS_MAX 4096  /* bytes of the command line at most */
#define PT_PATH_DEPTH 48  /* path components walked at most */

/* flags */
#define PT_F_NO_MM 1u          /* no user memory (kernel thread): no image */
#define PT_F_EXE_UNREAD 2u     /* path not read whole (too deep, too long,
                                  unreadable, deleted): read /proc */
#define PT_F_ARGS_TRUNCATED 4u /* more than PT_ARGS_MAX bytes of arguments */
#define PT_F_ARGS_UNREAD 8u    /* arguments not readable (page not present) */

struct pt_event {
  unsigned int kind;  /* PT_EV_* */
  unsigned int flags; /* PT_F_* */
  int pid;            /* the task the event is about (exec: the new pid,
                         which is the process's) */
  int tgid;           /* the process */
  int ppid;           /* the process's parent now (real_parent's tgid) */
  unsigned int uid;   /* real uid (as /proc/PID/status Uid's first) */
  unsigned long long start_boottime; /* the process's (group leader's)
                                        start, ns since boot */
  unsigned long long time_boottime;  /* when the event happened */
  int exit_code;                     /* exit: the task's exit code */
  int old_pid;                       /* exec: the thread that called it */
  char comm[16];                     /* the task's name after the event */
  unsigned int exe_len;
  unsigned int args_len;
  char data[PT_EXE_MAX + PT_ARGS_MAX];
};

#define PT_EVENT_HEADER_SIZE ((unsigned long)&((struct pt_event *)0)->data)

#endif
