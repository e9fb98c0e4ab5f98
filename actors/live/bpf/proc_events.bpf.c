// SPDX-License-Identifier: GPL-2.0
// The eBPF live source (docs/agent.md, "eBPF source"): the kernel's process
// events with what /proc would tell about them, so that user space needs no
// /proc read per event. BTF tracepoints (tp_btf), CO-RE against vmlinux.h
// (generated at build time from the running kernel's BTF), one ring buffer.
// GPL: bpf_probe_read_user and tp_btf programs need a GPL-compatible license.
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "proc_events.h"

char LICENSE[] SEC("license") = "GPL";

// Set by user space before load (rodata).
const volatile unsigned int ringbuf_wakeup_bytes = 0;

// Records lost because the ring buffer was full; user space reads it each
// round and heals with a /proc listing when it grows.
unsigned long long lost_events = 0;

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 8 << 20);
} events SEC(".maps");

// Scratch space: an event is built here (too big for the 512-byte stack),
// and a path is built backwards in `path` (+256: the verifier cannot tell
// that a name of up to 255 bytes written at pos ends before PT_EXE_MAX).
struct pt_scratch {
  struct pt_event ev;
  char path[PT_EXE_MAX + 256];
};
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct pt_scratch);
} scratch_map SEC(".maps");

static __always_inline struct pt_scratch *get_scratch(void) {
  __u32 zero = 0;
  return bpf_map_lookup_elem(&scratch_map, &zero);
}

// Fills the fields every event has from a task of the process.
static __always_inline void fill_common(struct pt_event *e,
                                        struct task_struct *t,
                                        unsigned int kind) {
  e->kind = kind;
  e->flags = 0;
  e->pid = BPF_CORE_READ(t, pid);
  e->tgid = BPF_CORE_READ(t, tgid);
  e->ppid = BPF_CORE_READ(t, real_parent, tgid);
  e->uid = BPF_CORE_READ(t, real_cred, uid.val);
  // /proc/PID/stat's start ticks are the group leader's start_boottime.
  e->start_boottime = BPF_CORE_READ(t, group_leader, start_boottime);
  e->time_boottime = bpf_ktime_get_boot_ns();
  e->exit_code = 0;
  e->old_pid = 0;
  BPF_CORE_READ_STR_INTO(&e->comm, t, comm);
  e->exe_len = 0;
  e->args_len = 0;
}

// The state of a path walk (bpf_loop's context).
struct pt_walk {
  struct dentry *d;
  struct vfsmount *vm;
  struct mount *m;
  unsigned int pos; // s->path[pos..PT_EXE_MAX) holds the path so far
  int done;         // reached the root of the mount tree
  int failed;
};

// One step of the walk: a component, or a crossing to the parent mount.
// 1 stops the loop.
static long walk_step(__u32 i, void *ctx) {
  struct pt_walk *w = ctx;
  struct pt_scratch *s = get_scratch();
  if (!s) {
    w->failed = 1;
    return 1;
  }
  // Locals: inside BPF_CORE_READ, w->... would be relocated as a kernel
  // type's field.
  struct dentry *d = w->d;
  struct vfsmount *vm = w->vm;
  struct mount *m = w->m;
  struct dentry *root = BPF_CORE_READ(vm, mnt_root);
  struct dentry *parent = BPF_CORE_READ(d, d_parent);
  if (d == root || d == parent) {
    struct mount *mp = BPF_CORE_READ(m, mnt_parent);
    if (d != root || mp == m) {
      w->done = 1; // the root of the mount tree (or of a detached one)
      return 1;
    }
    w->d = BPF_CORE_READ(m, mnt_mountpoint);
    w->m = mp;
    w->vm = &mp->mnt;
    return 0;
  }
  unsigned int len = BPF_CORE_READ(d, d_name.len);
  const unsigned char *name = BPF_CORE_READ(d, d_name.name);
  unsigned int pos = w->pos;
  if (len == 0 || len > 255 || pos > PT_EXE_MAX || len + 1 > pos) {
    w->failed = 1;
    return 1;
  }
  pos -= len;
  if (pos >= PT_EXE_MAX || bpf_probe_read_kernel(&s->path[pos], len & 255, name) != 0) {
    w->failed = 1;
    return 1;
  }
  pos -= 1;
  if (pos >= PT_EXE_MAX) {
    w->failed = 1;
    return 1;
  }
  s->path[pos] = '/';
  w->pos = pos;
  w->d = parent;
  return 0;
}

// The path of a file from the root of the mount tree, as readlink of
// /proc/PID/exe shows it to a reader in the initial mount namespace: built
// backwards in s->path, then copied to e->data. Sets PT_F_EXE_UNREAD when
// the path is deeper than PT_PATH_DEPTH, longer than PT_EXE_MAX, or the
// file was deleted (d_path would append " (deleted)").
static __always_inline void read_path(struct pt_scratch *s, struct file *f) {
  struct pt_event *e = &s->ev;
  if (!f) {
    e->flags |= PT_F_EXE_UNREAD;
    return;
  }
  struct dentry *d = BPF_CORE_READ(f, f_path.dentry);
  struct vfsmount *vm = BPF_CORE_READ(f, f_path.mnt);
  struct pt_walk w = {};
  w.d = d;
  w.vm = vm;
  w.m = container_of(vm, struct mount, mnt);
  w.pos = PT_EXE_MAX;
  // A deleted file: unhashed and not a root.
  if (BPF_CORE_READ(d, d_hash.pprev) == 0 && BPF_CORE_READ(d, d_parent) != d) {
    e->flags |= PT_F_EXE_UNREAD;
    return;
  }
  bpf_loop(PT_PATH_DEPTH, walk_step, &w, 0);
  if (!w.done || w.failed) {
    e->flags |= PT_F_EXE_UNREAD;
    return;
  }
  unsigned int pos = w.pos;
  if (pos >= PT_EXE_MAX) { // the root itself
    e->data[0] = '/';
    e->exe_len = 1;
    return;
  }
  unsigned int n = PT_EXE_MAX - pos;
  if (n > PT_EXE_MAX
      || bpf_probe_read_kernel(e->data, n, &s->path[pos]) != 0) {
    e->flags |= PT_F_EXE_UNREAD;
    return;
  }
  e->exe_len = n;
}

// The image of a process whose memory is `mm`, read in the current task's
// address space (the same arguments: at fork the child's memory is a copy
// of the caller's, at exec the caller is the process).
static __always_inline void read_image(struct pt_scratch *s, struct mm_struct *mm) {
  struct pt_event *e = &s->ev;
  if (!mm) {
    e->flags |= PT_F_NO_MM;
    return;
  }
  read_path(s, BPF_CORE_READ(mm, exe_file));
  unsigned long start = BPF_CORE_READ(mm, arg_start);
  unsigned long end = BPF_CORE_READ(mm, arg_end);
  if (end <= start)
    return;
  unsigned long len = end - start;
  if (len > PT_ARGS_MAX) {
    len = PT_ARGS_MAX;
    e->flags |= PT_F_ARGS_TRUNCATED;
  }
  unsigned int off = e->exe_len;
  if (off > PT_EXE_MAX)
    return;
  if (bpf_probe_read_user(&e->data[off], len & (PT_ARGS_MAX * 2 - 1),
                          (const void *)start)
      != 0) {
    e->flags |= PT_F_ARGS_UNREAD;
    return;
  }
  e->args_len = len;
}

static __always_inline void submit(struct pt_event *e) {
  unsigned long size = PT_EVENT_HEADER_SIZE + e->exe_len + e->args_len;
  if (size > sizeof(*e))
    size = sizeof(*e);
  __u64 flags = 0;
  if (ringbuf_wakeup_bytes > 0)
    flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= ringbuf_wakeup_bytes
                ? BPF_RB_FORCE_WAKEUP
                : BPF_RB_NO_WAKEUP;
  if (bpf_ringbuf_output(&events, e, size, flags) != 0)
    __sync_fetch_and_add(&lost_events, 1);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(pt_fork, struct task_struct *parent, struct task_struct *child) {
  if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
    return 0; // a new thread, not a new process
  struct pt_scratch *s = get_scratch();
  if (!s)
    return 0;
  fill_common(&s->ev, child, PT_EV_FORK);
  read_image(s, BPF_CORE_READ(child, mm));
  submit(&s->ev);
  return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(pt_exec, struct task_struct *p, pid_t old_pid,
             struct linux_binprm *bprm) {
  struct pt_scratch *s = get_scratch();
  if (!s)
    return 0;
  fill_common(&s->ev, p, PT_EV_EXEC);
  s->ev.old_pid = old_pid;
  read_image(s, BPF_CORE_READ(p, mm));
  submit(&s->ev);
  return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(pt_exit, struct task_struct *p) {
  // The process ended when its last thread does (signal->live reached 0
  // before the tracepoint); a thread's or an exec'd-over leader's exit is
  // not the process's.
  if (BPF_CORE_READ(p, signal, live.counter) != 0)
    return 0;
  struct pt_scratch *s = get_scratch();
  if (!s)
    return 0;
  struct pt_event *e = &s->ev;
  fill_common(e, p, PT_EV_EXIT);
  e->exit_code = BPF_CORE_READ(p, exit_code);
  submit(e);
  return 0;
}

SEC("tp_btf/task_rename")
int BPF_PROG(pt_comm, struct task_struct *task, const char *comm) {
  if (BPF_CORE_READ(task, pid) != BPF_CORE_READ(task, tgid))
    return 0; // a thread's name, not the process's
  // exec renames too: the exec event carries that name.
  if (bpf_core_field_exists(task->in_execve)
      && BPF_CORE_READ_BITFIELD_PROBED(task, in_execve))
    return 0;
  struct pt_scratch *s = get_scratch();
  if (!s)
    return 0;
  struct pt_event *e = &s->ev;
  fill_common(e, task, PT_EV_COMM);
  // The new name (the task's comm still holds the old one).
  bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), comm);
  submit(e);
  return 0;
}
