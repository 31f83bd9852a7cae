// lvs_native: the thin native edge of the datapath.
//
// Exports (all synchronous, called on the JS thread; see src/phy/native.ts for the typed view):
//   open({name, vnetHdr, offload, multiQueue}) -> {fd, name}
//   rawOpen(protocol, rcvbuf) -> fd   (an IPv4 raw socket read with readBatch, vnetHdrLen 0)
//   netlinkOpen(protocol, groups, rcvbuf) -> fd   (a netlink socket: readBatch, writeBatch)
//   readBatch(fd, buf, slotSize, headroom, vnetHdrLen, maxCount, lens) -> count
//   writeBatch(fd, buf, offs, lens, count) -> written
//   startPoll(fd, callback) / stopPoll(fd)
//   close(fd)
//   stats(fd) -> {rxPackets, rxBytes, txPackets, txBytes, read: {ERRNO: n}, write: {ERRNO: n}}
//
// Contracts:
// - One JS->native crossing moves a whole batch. Packet-level failures are counted per device
//   by errno name and never thrown; only argument errors and open() failures throw.
// - No libuv threadpool: readiness comes from a uv_poll_t (UV_READABLE) on the loop of the
//   calling environment, and read()/write() run on the JS thread against an O_NONBLOCK fd.
// - TUN has no multi-frame write (drivers/net/tun.c, tun_chr_write_iter takes one frame per
//   call), so writeBatch issues one write() per frame inside the single crossing.
// - With IFF_VNET_HDR each frame starts with struct virtio_net_hdr (10 bytes,
//   include/uapi/linux/virtio_net.h); lens[] reported by readBatch exclude it.

#include <node_api.h>

#include "napi_util.h"
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <unordered_map>

// packet.cc, sched.cc, bpf.cc, notify.cc
void RegisterPacket(napi_env env, napi_value exports);
void RegisterSched(napi_env env, napi_value exports);
void RegisterBpf(napi_env env, napi_value exports);
void RegisterNotify(napi_env env, napi_value exports);

namespace {

// Size of struct virtio_net_hdr without num_buffers (include/uapi/linux/virtio_net.h).
constexpr int kVnetHdrLen = 10;

// TUN_F_* offloads requested with TUNSETOFFLOAD: checksum offload plus TCP segmentation for
// both families, so the kernel may hand over TCP super-packets of up to 64 KB.
constexpr unsigned kOffloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;

// Error counter slots: real errno values below kErrnoSlots, then pseudo reasons.
constexpr int kErrnoSlots = 134;                  // EHWPOISON (133) is the largest Linux errno
constexpr int kErrShort = kErrnoSlots;            // read() returned fewer bytes than the vnet header
constexpr int kErrBounds = kErrnoSlots + 1;       // write frame outside buf or of length <= 0
constexpr int kErrOther = kErrnoSlots + 2;        // errno beyond the table
constexpr int kErrSlots = kErrnoSlots + 3;

const char* const kPseudoNames[] = {"SHORT", "BOUNDS", "EOTHER"};

struct Counters {
  double rx_packets = 0;
  double rx_bytes = 0;
  double tx_packets = 0;
  double tx_bytes = 0;
  uint64_t read_err[kErrSlots] = {};
  uint64_t write_err[kErrSlots] = {};
};

struct Addon;

struct Poll {
  uv_poll_t handle;
  Addon* addon;
  napi_ref callback;
  napi_async_context async_context;
  int fd;
};

struct Dev {
  Counters counters;
  Poll* poll = nullptr;
};

struct Addon {
  napi_env env;
  std::unordered_map<int, Dev*> devs;
  Counters orphan;  // batches on fds this addon did not open
  napi_async_cleanup_hook_handle cleanup = nullptr;
  int closing = 0;  // poll handles still closing during teardown
};

int ErrSlot(int err) { return err >= 0 && err < kErrnoSlots ? err : kErrOther; }

Counters& CountersFor(Addon* a, int fd) {
  auto it = a->devs.find(fd);
  return it == a->devs.end() ? a->orphan : it->second->counters;
}

// ---- argument helpers: each returns false with a pending JS exception on failure ----

using lvs::GetBuffer;
using lvs::GetInt;
using lvs::GetInt32Array;
using lvs::Fail;

// "what name: strerror(err)", code the errno name.
void ThrowErrno(napi_env env, const char* what, const char* name, int err) {
  char prefix[96];
  snprintf(prefix, sizeof prefix, "%s %s", what, name);
  lvs::ThrowErrno(env, prefix, err);
}

bool GetBoolProp(napi_env env, napi_value obj, const char* key, bool* out) {
  napi_value v;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return false;
  napi_valuetype t;
  napi_typeof(env, v, &t);
  *out = false;
  if (t == napi_undefined) return true;
  if (t != napi_boolean) {
    char msg[96];
    snprintf(msg, sizeof msg, "options.%s must be a boolean", key);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return false;
  }
  napi_get_value_bool(env, v, out);
  return true;
}

template <size_t N>
bool Args(napi_env env, napi_callback_info info, napi_value (&argv)[N], Addon** addon) {
  void* data = nullptr;
  const bool ok = lvs::GetArgs(env, info, argv, &data);
  *addon = static_cast<Addon*>(data);
  return ok;
}

napi_value Number(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

// ---- open / close ----

// open({name, vnetHdr, offload, multiQueue}) -> {fd, name}
napi_value Open(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Addon* a;
  if (!Args(env, info, argv, &a)) return nullptr;

  napi_value name_v;
  if (napi_get_named_property(env, argv[0], "name", &name_v) != napi_ok) return nullptr;
  char name[IFNAMSIZ + 1] = {};
  size_t name_len = 0;
  if (napi_get_value_string_utf8(env, name_v, name, sizeof name, &name_len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "options.name must be a string");
    return nullptr;
  }
  if (name_len >= IFNAMSIZ) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "options.name is longer than IFNAMSIZ-1 (15)");
    return nullptr;
  }
  bool vnet = false, offload = false, multi = false;
  if (!GetBoolProp(env, argv[0], "vnetHdr", &vnet) ||
      !GetBoolProp(env, argv[0], "offload", &offload) ||
      !GetBoolProp(env, argv[0], "multiQueue", &multi))
    return nullptr;
  if (offload && !vnet) {
    // Without the header the kernel cannot mark partial checksums or GSO frames.
    Fail(env, "ERR_INVALID_ARG_VALUE", "offload requires vnetHdr");
    return nullptr;
  }

  int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    ThrowErrno(env, "open /dev/net/tun for", name, errno);
    return nullptr;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, name_len);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0) | (multi ? IFF_MULTI_QUEUE : 0);
  const char* failed = nullptr;
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    failed = "TUNSETIFF";
  } else if (vnet) {
    int sz = kVnetHdrLen;
    if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) failed = "TUNSETVNETHDRSZ";
  }
  if (!failed && offload && ioctl(fd, TUNSETOFFLOAD, kOffloads) < 0) failed = "TUNSETOFFLOAD";
  if (failed) {
    int err = errno;
    ::close(fd);
    ThrowErrno(env, failed, name, err);
    return nullptr;
  }

  auto it = a->devs.find(fd);
  if (it != a->devs.end()) delete it->second;  // stale entry for an fd closed elsewhere
  a->devs[fd] = new Dev();

  napi_value result, fd_v, got_name;
  napi_create_object(env, &result);
  napi_create_int32(env, fd, &fd_v);
  napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &got_name);
  napi_set_named_property(env, result, "fd", fd_v);
  napi_set_named_property(env, result, "name", got_name);
  return result;
}

// adopt(fd, offload) -> {fd, name}: a duplicate of a TUN queue fd opened elsewhere in this
// process (another thread's addon instance), registered here like one this addon opened. The
// queue stays attached (and keeps its index, which a steering program returns) while any
// duplicate is open, so a thread that ends closes only its own. With offload, TUNSETOFFLOAD is
// applied to the queue again (offloads are per queue).
napi_value Adopt(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Addon* a;
  int32_t src;
  bool offload = false;
  if (!Args(env, info, argv, &a) || !GetInt(env, argv[0], "fd", &src)) return nullptr;
  if (napi_get_value_bool(env, argv[1], &offload) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "offload must be a boolean");
    return nullptr;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (ioctl(src, TUNGETIFF, &ifr) < 0) {
    ThrowErrno(env, "TUNGETIFF", "fd", errno);
    return nullptr;
  }
  int fd = fcntl(src, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) {
    ThrowErrno(env, "dup", "fd", errno);
    return nullptr;
  }
  if (offload && ioctl(fd, TUNSETOFFLOAD, kOffloads) < 0) {
    int err = errno;
    ::close(fd);
    ThrowErrno(env, "TUNSETOFFLOAD", ifr.ifr_name, err);
    return nullptr;
  }
  auto it = a->devs.find(fd);
  if (it != a->devs.end()) delete it->second;
  a->devs[fd] = new Dev();
  napi_value result, fd_v, got_name;
  napi_create_object(env, &result);
  napi_create_int32(env, fd, &fd_v);
  napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &got_name);
  napi_set_named_property(env, result, "fd", fd_v);
  napi_set_named_property(env, result, "name", got_name);
  return result;
}

// setSteering(fd, progFd): TUNSETSTEERINGEBPF on the device of queue fd; progFd -1 detaches.
// The program (BPF_PROG_TYPE_SOCKET_FILTER) returns the queue index of each packet the
// kernel sends into the device (tun_ebpf_select_queue: ret % numqueues).
napi_value SetSteering(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Addon* a;
  int32_t fd, prog;
  if (!Args(env, info, argv, &a) || !GetInt(env, argv[0], "fd", &fd) || !GetInt(env, argv[1], "progFd", &prog))
    return nullptr;
  int p = prog;
  if (ioctl(fd, TUNSETSTEERINGEBPF, &p) < 0) ThrowErrno(env, "TUNSETSTEERINGEBPF", "fd", errno);
  return nullptr;
}

// rawOpen(protocol, rcvbuf) -> fd
// socket(AF_INET, SOCK_RAW, protocol), non-blocking, close-on-exec: read() returns one datagram
// with its IPv4 header (raw(7)), so readBatch and the poll and counters of TUN devices apply.
// rcvbuf > 0 sets the receive buffer with SO_RCVBUFFORCE (beyond rmem_max, CAP_NET_ADMIN),
// falling back to SO_RCVBUF.
napi_value RawOpen(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Addon* a;
  int32_t proto, rcvbuf;
  if (!Args(env, info, argv, &a) || !GetInt(env, argv[0], "protocol", &proto) ||
      !GetInt(env, argv[1], "rcvbuf", &rcvbuf))
    return nullptr;
  if (proto <= 0 || proto > 255) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "rawOpen: protocol must be 1..255");
    return nullptr;
  }
  int fd = ::socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  if (fd < 0) {
    ThrowErrno(env, "socket", "AF_INET/SOCK_RAW", errno);
    return nullptr;
  }
  if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0 &&
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0) {
    int err = errno;
    ::close(fd);
    ThrowErrno(env, "setsockopt", "SO_RCVBUF", err);
    return nullptr;
  }
  auto it = a->devs.find(fd);
  if (it != a->devs.end()) delete it->second;
  a->devs[fd] = new Dev();
  return Number(env, fd);
}

// netlinkOpen(protocol, groups, rcvbuf) -> fd
// socket(AF_NETLINK, SOCK_RAW, protocol), non-blocking, close-on-exec, bound with the legacy
// multicast group bitmask `groups` (netlink(7); RTMGRP_* for NETLINK_ROUTE). read() returns one
// datagram of netlink messages and write() sends one to the kernel (an unconnected netlink
// socket's destination is port 0), so readBatch, writeBatch, the poll and the counters of
// TUN devices apply; a receive queue overrun is counted as a read error ENOBUFS.
napi_value NetlinkOpen(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  Addon* a;
  int32_t proto, groups, rcvbuf;
  if (!Args(env, info, argv, &a) || !GetInt(env, argv[0], "protocol", &proto) ||
      !GetInt(env, argv[1], "groups", &groups) || !GetInt(env, argv[2], "rcvbuf", &rcvbuf))
    return nullptr;
  if (proto < 0 || proto >= MAX_LINKS) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "netlinkOpen: protocol out of range");
    return nullptr;
  }
  int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  if (fd < 0) {
    ThrowErrno(env, "socket", "AF_NETLINK", errno);
    return nullptr;
  }
  if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0 &&
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0) {
    int err = errno;
    ::close(fd);
    ThrowErrno(env, "setsockopt", "SO_RCVBUF", err);
    return nullptr;
  }
  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = static_cast<uint32_t>(groups);
  if (::bind(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) < 0) {
    int err = errno;
    ::close(fd);
    ThrowErrno(env, "bind", "AF_NETLINK", err);
    return nullptr;
  }
  auto it = a->devs.find(fd);
  if (it != a->devs.end()) delete it->second;
  a->devs[fd] = new Dev();
  return Number(env, fd);
}

void OnPollClosed(uv_handle_t* h) { delete static_cast<Poll*>(h->data); }

// Releases the JS side of a poll and closes its handle; the memory goes in OnPollClosed.
void DropPoll(napi_env env, Poll* p, uv_close_cb on_closed = OnPollClosed) {
  uv_poll_stop(&p->handle);
  napi_delete_reference(env, p->callback);
  napi_async_destroy(env, p->async_context);
  uv_close(reinterpret_cast<uv_handle_t*>(&p->handle), on_closed);
}

napi_value Close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Addon* a;
  int32_t fd;
  if (!Args(env, info, argv, &a) || !GetInt(env, argv[0], "fd", &fd)) return nullptr;
  auto it = a->devs.find(fd);
  if (it == a->devs.end()) {
    Fail(env, "EBADF", "close: fd was not opened by lvs_native or is already closed");
    return nullptr;
  }
  Dev* d = it->second;
  a->devs.erase(it);
  if (d->poll) DropPoll(env, d->poll);
  delete d;
  ::close(fd);  // the kernel removes a non-persistent TUN device with its last fd
  return nullptr;
}

// ---- batched I/O ----

// readBatch(fd, buf, slotSize, headroom, vnetHdrLen, maxCount, lens) -> count
// Frame i lands at i*slotSize + headroom (virtio_net_hdr first when vnetHdrLen > 0);
// lens[i] = bytes read - vnetHdrLen. Stops at EAGAIN, at maxCount, or at the first error.
napi_value ReadBatch(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  Addon* a;
  int32_t fd, slot, headroom, vnet, max;
  uint8_t* buf;
  size_t buf_len, lens_len;
  int32_t* lens;
  if (!Args(env, info, argv, &a) || !GetInt(env, argv[0], "fd", &fd) ||
      !GetBuffer(env, argv[1], "buf", &buf, &buf_len) ||
      !GetInt(env, argv[2], "slotSize", &slot) || !GetInt(env, argv[3], "headroom", &headroom) ||
      !GetInt(env, argv[4], "vnetHdrLen", &vnet) || !GetInt(env, argv[5], "maxCount", &max) ||
      !GetInt32Array(env, argv[6], "lens", &lens, &lens_len))
    return nullptr;
  if (headroom < 0 || vnet < 0 || slot <= headroom + vnet || max < 0 ||
      static_cast<size_t>(max) > lens_len ||
      static_cast<uint64_t>(max) * static_cast<uint64_t>(slot) > buf_len) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                           "readBatch: slots do not fit buf/lens or headroom+vnetHdrLen >= slotSize");
    return nullptr;
  }
  Counters& c = CountersFor(a, fd);
  const size_t cap = static_cast<size_t>(slot - headroom);
  int32_t i = 0;
  while (i < max) {
    uint8_t* p = buf + static_cast<size_t>(i) * slot + headroom;
    ssize_t n = ::read(fd, p, cap);
    if (n < 0) {
      int err = errno;
      if (err == EINTR) continue;
      if (err != EAGAIN && err != EWOULDBLOCK) c.read_err[ErrSlot(err)]++;
      break;
    }
    if (n <= vnet) {
      c.read_err[kErrShort]++;
      break;
    }
    lens[i] = static_cast<int32_t>(n - vnet);
    c.rx_bytes += static_cast<double>(n - vnet);
    i++;
  }
  c.rx_packets += i;
  return Number(env, i);
}

// writeBatch(fd, buf, offs, lens, count) -> written
// Frame k is buf[offs[k], offs[k]+lens[k]), virtio_net_hdr included when the device has one.
napi_value WriteBatch(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  Addon* a;
  int32_t fd, count;
  uint8_t* buf;
  size_t buf_len, offs_len, lens_len;
  int32_t *offs, *lens;
  if (!Args(env, info, argv, &a) || !GetInt(env, argv[0], "fd", &fd) ||
      !GetBuffer(env, argv[1], "buf", &buf, &buf_len) ||
      !GetInt32Array(env, argv[2], "offs", &offs, &offs_len) ||
      !GetInt32Array(env, argv[3], "lens", &lens, &lens_len) ||
      !GetInt(env, argv[4], "count", &count))
    return nullptr;
  if (count < 0 || static_cast<size_t>(count) > offs_len || static_cast<size_t>(count) > lens_len) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "writeBatch: count exceeds offs/lens");
    return nullptr;
  }
  Counters& c = CountersFor(a, fd);
  int32_t written = 0;
  for (int32_t k = 0; k < count; k++) {
    const int64_t off = offs[k], len = lens[k];
    if (off < 0 || len <= 0 || static_cast<uint64_t>(off + len) > buf_len) {
      c.write_err[kErrBounds]++;
      continue;
    }
    ssize_t n;
    do {
      n = ::write(fd, buf + off, static_cast<size_t>(len));
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      c.write_err[ErrSlot(errno)]++;
      continue;
    }
    c.tx_bytes += static_cast<double>(n);
    written++;
  }
  c.tx_packets += written;
  return Number(env, written);
}

// ---- readiness ----

void OnPoll(uv_poll_t* h, int status, int /*events*/) {
  Poll* p = static_cast<Poll*>(h->data);
  Addon* a = p->addon;
  napi_env env = a->env;
  // libuv stops the watcher itself after reporting POLLERR (a detached TUN reports it);
  // the callback still runs so that the owner's read() observes the error.
  if (status < 0) CountersFor(a, p->fd).read_err[ErrSlot(-status)]++;

  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, result;
  if (napi_get_reference_value(env, p->callback, &fn) == napi_ok && fn != nullptr) {
    napi_get_global(env, &recv);  // napi_make_callback converts recv to an object
    // p may be released by the callback (close from JS); it is not touched afterwards.
    if (napi_make_callback(env, p->async_context, recv, fn, 0, nullptr, &result) ==
        napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err);
    }
  }
  napi_close_handle_scope(env, scope);
}

// startPoll(fd, callback): callback() runs on the loop whenever fd is readable.
napi_value StartPoll(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Addon* a;
  int32_t fd;
  if (!Args(env, info, argv, &a) || !GetInt(env, argv[0], "fd", &fd)) return nullptr;
  napi_valuetype t;
  napi_typeof(env, argv[1], &t);
  if (t != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "callback must be a function");
    return nullptr;
  }
  auto it = a->devs.find(fd);
  if (it == a->devs.end()) {
    Fail(env, "EBADF", "startPoll: fd was not opened by lvs_native");
    return nullptr;
  }
  Dev* d = it->second;
  if (d->poll) {
    Fail(env, "ERR_ALREADY_POLLING", "startPoll: fd is already polled");
    return nullptr;
  }
  uv_loop_t* loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    Fail(env, "ERR_NO_LOOP", "startPoll: no event loop");
    return nullptr;
  }
  Poll* p = new Poll();
  p->addon = a;
  p->fd = fd;
  int r = uv_poll_init(loop, &p->handle, fd);
  if (r < 0) {
    delete p;
    ThrowErrno(env, "uv_poll_init", "fd", -r);
    return nullptr;
  }
  p->handle.data = p;
  napi_value resource, resource_name;
  napi_create_object(env, &resource);
  napi_create_string_utf8(env, "LvsTunPoll", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, resource, resource_name, &p->async_context);
  napi_create_reference(env, argv[1], 1, &p->callback);
  r = uv_poll_start(&p->handle, UV_READABLE, OnPoll);
  if (r < 0) {
    DropPoll(env, p);
    ThrowErrno(env, "uv_poll_start", "fd", -r);
    return nullptr;
  }
  d->poll = p;
  return nullptr;
}

napi_value StopPoll(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Addon* a;
  int32_t fd;
  if (!Args(env, info, argv, &a) || !GetInt(env, argv[0], "fd", &fd)) return nullptr;
  auto it = a->devs.find(fd);
  if (it != a->devs.end() && it->second->poll) {
    DropPoll(env, it->second->poll);
    it->second->poll = nullptr;
  }
  return nullptr;
}

// ---- counters ----

napi_value ErrorsObject(napi_env env, const uint64_t (&errs)[kErrSlots]) {
  napi_value o;
  napi_create_object(env, &o);
  for (int e = 0; e < kErrSlots; e++) {
    if (errs[e] == 0) continue;
    const char* name = e >= kErrnoSlots ? kPseudoNames[e - kErrnoSlots] : strerrorname_np(e);
    char fallback[16];
    if (!name) {
      snprintf(fallback, sizeof fallback, "E%d", e);
      name = fallback;
    }
    napi_set_named_property(env, o, name, Number(env, static_cast<double>(errs[e])));
  }
  return o;
}

// stats(fd) -> counters of the device (or of batches on foreign fds when fd is unknown).
napi_value Stats(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Addon* a;
  int32_t fd;
  if (!Args(env, info, argv, &a) || !GetInt(env, argv[0], "fd", &fd)) return nullptr;
  const Counters& c = CountersFor(a, fd);
  napi_value o;
  napi_create_object(env, &o);
  napi_set_named_property(env, o, "rxPackets", Number(env, c.rx_packets));
  napi_set_named_property(env, o, "rxBytes", Number(env, c.rx_bytes));
  napi_set_named_property(env, o, "txPackets", Number(env, c.tx_packets));
  napi_set_named_property(env, o, "txBytes", Number(env, c.tx_bytes));
  napi_set_named_property(env, o, "read", ErrorsObject(env, c.read_err));
  napi_set_named_property(env, o, "write", ErrorsObject(env, c.write_err));
  return o;
}

// ---- lifetime ----

// Environment teardown (process exit or worker termination) releases polls and fds, so a
// worker that owned a TUN queue does not leak it. The hook is asynchronous because the poll
// handles close on the loop and their close callback lives in this module, which the
// environment may unload once the hook is removed.
void FinishTeardown(Addon* a) {
  napi_remove_async_cleanup_hook(a->cleanup);
  delete a;
}

void OnTeardownPollClosed(uv_handle_t* h) {
  Poll* p = static_cast<Poll*>(h->data);
  Addon* a = p->addon;
  delete p;
  if (--a->closing == 0) FinishTeardown(a);
}

void Cleanup(napi_async_cleanup_hook_handle handle, void* arg) {
  Addon* a = static_cast<Addon*>(arg);
  a->cleanup = handle;
  for (auto& [fd, d] : a->devs) {
    if (d->poll) {
      a->closing++;
      DropPoll(a->env, d->poll, OnTeardownPollClosed);
    }
    ::close(fd);
    delete d;
  }
  a->devs.clear();
  if (a->closing == 0) FinishTeardown(a);
}

napi_value Init(napi_env env, napi_value exports) {
  Addon* a = new Addon();
  a->env = env;
  napi_add_async_cleanup_hook(env, Cleanup, a, nullptr);
  const napi_property_descriptor props[] = {
      {"open", nullptr, Open, nullptr, nullptr, nullptr, napi_enumerable, a},
      {"rawOpen", nullptr, RawOpen, nullptr, nullptr, nullptr, napi_enumerable, a},
      {"adopt", nullptr, Adopt, nullptr, nullptr, nullptr, napi_enumerable, a},
      {"setSteering", nullptr, SetSteering, nullptr, nullptr, nullptr, napi_enumerable, a},
      {"netlinkOpen", nullptr, NetlinkOpen, nullptr, nullptr, nullptr, napi_enumerable, a},
      {"close", nullptr, Close, nullptr, nullptr, nullptr, napi_enumerable, a},
      {"readBatch", nullptr, ReadBatch, nullptr, nullptr, nullptr, napi_enumerable, a},
      {"writeBatch", nullptr, WriteBatch, nullptr, nullptr, nullptr, napi_enumerable, a},
      {"startPoll", nullptr, StartPoll, nullptr, nullptr, nullptr, napi_enumerable, a},
      {"stopPoll", nullptr, StopPoll, nullptr, nullptr, nullptr, napi_enumerable, a},
      {"stats", nullptr, Stats, nullptr, nullptr, nullptr, napi_enumerable, a},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_value vnet_v;
  napi_create_int32(env, kVnetHdrLen, &vnet_v);
  napi_set_named_property(env, exports, "VNET_HDR_LEN", vnet_v);
  RegisterPacket(env, exports);  // packet.cc: AF_PACKET send for direct routing
  RegisterSched(env, exports);   // sched.cc: real-time policy of the packet thread
  RegisterBpf(env, exports);     // bpf.cc: the real server's IPIP decapsulation program
  RegisterNotify(env, exports);  // notify.cc: readiness datagrams to the service manager
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
