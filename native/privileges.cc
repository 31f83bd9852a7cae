// lvs_priv: the daemon's privilege edge (typed in src/host/privileges.ts).
//
// Exports:
//   flockExclusive(fd) -> boolean    flock(fd, LOCK_EX|LOCK_NB): true when taken, false when
//                                    another open file description holds it (EWOULDBLOCK).
//   peerCred(fd) -> {pid, uid, gid, groups}
//                                    getsockopt(SO_PEERCRED) of a connected Unix socket: the
//                                    credentials of the peer when it connected, and its
//                                    supplementary groups (SO_PEERGROUPS; unix(7), socket(7)).
//   restrict(keep, uid, gid, groups) -> {threads, reached}
//       Reduces every thread of the process to the capabilities in `keep` (a BigInt mask of
//       CAP_* bits): bounding set without the others (PR_CAPBSET_DROP), permitted = effective =
//       inheritable = keep (capset), each kept capability raised in the ambient set so that
//       children (`ip`, `nft`) exec'd by a non-root uid keep them (capabilities(7)). With
//       uid >= 0 the thread then switches to uid/gid with exactly `groups` as supplementary
//       groups, keeping the capabilities across the switch (PR_SET_KEEPCAPS).
//
// Contracts:
// - Linux credentials are per thread and capset(2), setresuid(2) as raw system calls act on the
//   calling thread only, so restrict() runs the same sequence of system calls on the calling
//   thread and, from a signal handler, on every other thread of the process (as libpsx does).
//   `threads` is how many other threads exist, `reached` how many ran the sequence; a thread
//   that blocks the signal (Node's signal-dispatcher thread blocks all) is not signalled and
//   keeps its credentials.
// - The sequence uses only system calls (async-signal-safe). The first failure of the calling
//   thread throws an Error whose code is the errno name; nothing is retried.

#include <node_api.h>

#include "napi_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif
#include <time.h>
#include <unistd.h>

#include <atomic>

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#endif

namespace {

using lvs::ThrowErrno;

constexpr int kMaxGroups = 64;

struct Plan {
  uint64_t keep;
  int last_cap;
  long uid;  // < 0: keep the current ids
  long gid;
  int ngroups;
  gid_t groups[kMaxGroups];
};

Plan g_plan;
std::atomic<int> g_reached{0};
std::atomic<int> g_failed_errno{0};

// Runs the plan on the calling thread; 0 or an errno value.
int ApplyPlan() {
  const Plan& p = g_plan;
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return errno;
  for (int c = 0; c <= p.last_cap; c++) {
    if ((p.keep >> c) & 1) continue;
    // EPERM: no CAP_SETPCAP (a container may withhold it); the bounding set then stays and
    // the caller sees it in CapBnd. EINVAL: a capability this kernel does not have.
    if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL && errno != EPERM) return errno;
  }
  struct __user_cap_header_struct hdr;
  struct __user_cap_data_struct data[2];
  auto set = [&](uint64_t eff) -> int {
    memset(&hdr, 0, sizeof hdr);
    memset(data, 0, sizeof data);
    hdr.version = _LINUX_CAPABILITY_VERSION_3;
    data[0].permitted = data[0].inheritable = static_cast<uint32_t>(p.keep);
    data[1].permitted = data[1].inheritable = static_cast<uint32_t>(p.keep >> 32);
    data[0].effective = static_cast<uint32_t>(eff);
    data[1].effective = static_cast<uint32_t>(eff >> 32);
    return syscall(SYS_capset, &hdr, data) < 0 ? errno : 0;
  };
  if (p.uid >= 0) {
    // Still root here, with every capability effective; KEEPCAPS keeps the permitted set
    // across the switch (capabilities(7), "Effect of user ID changes on capabilities").
    if (syscall(SYS_setgroups, p.ngroups, p.groups) < 0) return errno;
    if (syscall(SYS_setresgid, p.gid, p.gid, p.gid) < 0) return errno;
    if (syscall(SYS_setresuid, p.uid, p.uid, p.uid) < 0) return errno;
  }
  int err = set(p.keep);
  if (err != 0) return err;
  for (int c = 0; c <= p.last_cap; c++) {
    // EINVAL: a kernel before 4.3 has no ambient set; children of root keep the set anyway.
    if (((p.keep >> c) & 1) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0 && errno != EINVAL) return errno;
  }
  return 0;
}

void OnSignal(int) {
  const int saved = errno;
  const int err = ApplyPlan();
  if (err != 0) g_failed_errno.store(err);
  g_reached.fetch_add(1);
  errno = saved;
}

int LastCap() {
  int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 40;
  char buf[16] = {0};
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  return n > 0 ? atoi(buf) : 40;
}

// Whether thread tid blocks sig (SigBlk of /proc/self/task/TID/status, proc(5)).
bool Blocks(pid_t tid, int sig) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/status", static_cast<int>(tid));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  const char* p = strstr(buf, "SigBlk:");
  if (p == nullptr) return false;
  const unsigned long long mask = strtoull(p + 7, nullptr, 16);
  return ((mask >> (sig - 1)) & 1) != 0;
}

napi_value Restrict(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!lvs::GetArgs(env, info, argv)) return nullptr;
  bool lossless = false;
  uint64_t keep = 0;
  if (napi_get_value_bigint_uint64(env, argv[0], &keep, &lossless) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "keep must be a BigInt");
    return nullptr;
  }
  int32_t uid = -1, gid = -1;
  if (!lvs::GetInt(env, argv[1], "uid", &uid) || !lvs::GetInt(env, argv[2], "gid", &gid)) return nullptr;
  uint32_t ngroups = 0;
  napi_get_array_length(env, argv[3], &ngroups);
  if (ngroups > kMaxGroups) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "too many supplementary groups");
    return nullptr;
  }
  memset(&g_plan, 0, sizeof g_plan);
  g_plan.keep = keep;
  g_plan.last_cap = LastCap();
  g_plan.uid = uid;
  g_plan.gid = gid;
  g_plan.ngroups = static_cast<int>(ngroups);
  for (uint32_t i = 0; i < ngroups; i++) {
    napi_value v;
    napi_get_element(env, argv[3], i, &v);
    int32_t g = 0;
    if (!lvs::GetInt(env, v, "group", &g)) return nullptr;
    g_plan.groups[i] = static_cast<gid_t>(g);
  }

  // Other threads first: each runs the plan in the handler while this one still holds every
  // capability it might need to finish.
  const int sig = SIGRTMIN + 4;
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = OnSignal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(sig, &sa, &old) < 0) return ThrowErrno(env, "sigaction", errno);
  g_reached.store(0);
  g_failed_errno.store(0);
  const pid_t pid = getpid();
  const pid_t self = static_cast<pid_t>(syscall(SYS_gettid));
  int threads = 0, signalled = 0;
  DIR* d = opendir("/proc/self/task");
  if (d != nullptr) {
    while (struct dirent* e = readdir(d)) {
      const pid_t tid = static_cast<pid_t>(atoi(e->d_name));
      if (tid <= 0 || tid == self) continue;
      threads++;
      if (Blocks(tid, sig)) continue;
      if (syscall(SYS_tgkill, pid, tid, sig) == 0) signalled++;
    }
    closedir(d);
  }
  // Wait (bounded: 1 s) for the threads that do not block the signal.
  for (int i = 0; i < 1000 && g_reached.load() < signalled; i++) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, nullptr);
  }
  const int err = ApplyPlan();
  sigaction(sig, &old, nullptr);
  if (err != 0) return ThrowErrno(env, "restrict privileges", err);
  if (g_failed_errno.load() != 0) return ThrowErrno(env, "restrict privileges (other thread)", g_failed_errno.load());
  napi_value result;
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "threads", lvs::Int32(env, threads));
  napi_set_named_property(env, result, "reached", lvs::Int32(env, g_reached.load()));
  return result;
}

napi_value FlockExclusive(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd = -1;
  if (!lvs::GetArgs(env, info, argv) || !lvs::GetInt(env, argv[0], "fd", &fd)) return nullptr;
  napi_value r;
  if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
    napi_get_boolean(env, true, &r);
    return r;
  }
  if (errno == EWOULDBLOCK) {
    napi_get_boolean(env, false, &r);
    return r;
  }
  return ThrowErrno(env, "flock", errno);
}

napi_value PeerCred(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd = -1;
  if (!lvs::GetArgs(env, info, argv) || !lvs::GetInt(env, argv[0], "fd", &fd)) return nullptr;
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return ThrowErrno(env, "SO_PEERCRED", errno);
  napi_value r;
  napi_create_object(env, &r);
  napi_set_named_property(env, r, "pid", lvs::Int32(env, cred.pid));
  napi_value uid, gid;
  napi_create_uint32(env, cred.uid, &uid);
  napi_create_uint32(env, cred.gid, &gid);
  napi_set_named_property(env, r, "uid", uid);
  napi_set_named_property(env, r, "gid", gid);
  // SO_PEERGROUPS (Linux 4.13): the peer's supplementary groups; absent on older kernels.
  gid_t groups[kMaxGroups * 4];
  socklen_t glen = sizeof groups;
  napi_value list;
  napi_create_array(env, &list);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0) {
    for (uint32_t i = 0; i < glen / sizeof(gid_t); i++) {
      napi_value g;
      napi_create_uint32(env, groups[i], &g);
      napi_set_element(env, list, i, g);
    }
  }
  napi_set_named_property(env, r, "groups", list);
  return r;
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"flockExclusive", nullptr, FlockExclusive, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"peerCred", nullptr, PeerCred, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"restrict", nullptr, Restrict, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
