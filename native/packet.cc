// lvs_native, AF_PACKET part: the send side of direct routing (packet(7)).
//
// Exports (registered by tun.cc's Init through RegisterPacket; typed in src/phy/packet.ts):
//   packetOpen(ifname, vnetHdr) -> {fd, ifindex, mac: Buffer(6), vnetHdr}
//   packetSend(fd, ifindex, buf, offs, lens, count) -> sent
//   packetClose(fd)
//
// Contracts:
// - The socket is SOCK_RAW with protocol 0: it receives nothing and sends whole Ethernet
//   frames (the caller writes the link header). O_NONBLOCK, O_CLOEXEC.
// - vnetHdr asks for PACKET_VNET_HDR: every frame then starts with a 10-byte struct
//   virtio_net_hdr whose csum_start counts from the Ethernet header, and the kernel
//   segments GSO frames and completes NEEDS_CSUM checksums (net/packet/af_packet.c
//   packet_snd). The returned vnetHdr says whether the option took.
// - packetSend moves a whole batch in sendmmsg(2) calls of up to kChunk frames, each addressed
//   to ifindex with protocol ETH_P_IP. A frame the kernel refuses is skipped and not counted
//   as sent; errors never throw (only bad arguments do).

#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

constexpr int kChunk = 64;

bool Fail(napi_env env, const char* code, const char* msg) {
  napi_throw_error(env, code, msg);
  return false;
}

napi_value ThrowErrnoValue(napi_env env, const char* what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  const char* code = strerrorname_np(err);
  napi_throw_error(env, code ? code : "EOTHER", msg);
  return nullptr;
}

template <size_t N>
bool GetArgs(napi_env env, napi_callback_info info, napi_value (&argv)[N]) {
  size_t argc = N;
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < N) return Fail(env, "ERR_MISSING_ARGS", "missing arguments");
  return true;
}

bool ToInt(napi_env env, napi_value v, int32_t* out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_number) return Fail(env, "ERR_INVALID_ARG_TYPE", "expected a number");
  napi_get_value_int32(env, v, out);
  return true;
}

bool ToInt32Array(napi_env env, napi_value v, int32_t** data, size_t* len) {
  bool is_ta = false;
  napi_is_typedarray(env, v, &is_ta);
  napi_typedarray_type type = napi_uint8_array;
  void* p = nullptr;
  if (is_ta) napi_get_typedarray_info(env, v, &type, len, &p, nullptr, nullptr);
  if (!is_ta || type != napi_int32_array) return Fail(env, "ERR_INVALID_ARG_TYPE", "expected an Int32Array");
  *data = static_cast<int32_t*>(p);
  return true;
}

// packetOpen(ifname, vnetHdr) -> {fd, ifindex, mac, vnetHdr}
napi_value PacketOpen(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!GetArgs(env, info, argv)) return nullptr;
  char name[IFNAMSIZ + 1] = {};
  size_t name_len = 0;
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_len) != napi_ok || name_len == 0 ||
      name_len >= IFNAMSIZ) {
    Fail(env, "ERR_INVALID_ARG_VALUE", "interface name must be 1..15 bytes");
    return nullptr;
  }
  bool want_vnet = false;
  napi_get_value_bool(env, argv[1], &want_vnet);

  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrnoValue(env, "socket(AF_PACKET)", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, name_len);
  if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
    int err = errno;
    ::close(fd);
    return ThrowErrnoValue(env, name, err);
  }
  int ifindex = ifr.ifr_ifindex;
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
    int err = errno;
    ::close(fd);
    return ThrowErrnoValue(env, name, err);
  }
  uint8_t mac[6];
  memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
  bool vnet = false;
  if (want_vnet) {
    int one = 1;
    vnet = setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) == 0;
  }

  napi_value out, fd_v, idx_v, mac_v, vnet_v;
  napi_create_object(env, &out);
  napi_create_int32(env, fd, &fd_v);
  napi_create_int32(env, ifindex, &idx_v);
  void* mac_data = nullptr;
  napi_create_buffer_copy(env, 6, mac, &mac_data, &mac_v);
  napi_get_boolean(env, vnet, &vnet_v);
  napi_set_named_property(env, out, "fd", fd_v);
  napi_set_named_property(env, out, "ifindex", idx_v);
  napi_set_named_property(env, out, "mac", mac_v);
  napi_set_named_property(env, out, "vnetHdr", vnet_v);
  return out;
}

// packetSend(fd, ifindex, buf, offs, lens, count) -> sent
napi_value PacketSend(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  if (!GetArgs(env, info, argv)) return nullptr;
  int32_t fd, ifindex, count;
  if (!ToInt(env, argv[0], &fd) || !ToInt(env, argv[1], &ifindex) || !ToInt(env, argv[5], &count)) return nullptr;
  bool is_buf = false;
  napi_is_buffer(env, argv[2], &is_buf);
  if (!is_buf) {
    Fail(env, "ERR_INVALID_ARG_TYPE", "buf must be a Buffer");
    return nullptr;
  }
  uint8_t* data = nullptr;
  size_t data_len = 0;
  napi_get_buffer_info(env, argv[2], reinterpret_cast<void**>(&data), &data_len);
  int32_t *offs, *lens;
  size_t offs_n, lens_n;
  if (!ToInt32Array(env, argv[3], &offs, &offs_n) || !ToInt32Array(env, argv[4], &lens, &lens_n)) return nullptr;
  if (count < 0 || static_cast<size_t>(count) > offs_n || static_cast<size_t>(count) > lens_n) {
    Fail(env, "ERR_OUT_OF_RANGE", "count exceeds offs/lens");
    return nullptr;
  }

  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_IP);
  sll.sll_ifindex = ifindex;

  struct mmsghdr msgs[kChunk];
  struct iovec iov[kChunk];
  int sent = 0;
  int k = 0;
  while (k < count) {
    int n = 0;
    while (n < kChunk && k + n < count) {
      int32_t off = offs[k + n], len = lens[k + n];
      if (off < 0 || len <= 0 || static_cast<size_t>(off) + static_cast<size_t>(len) > data_len) break;
      iov[n].iov_base = data + off;
      iov[n].iov_len = static_cast<size_t>(len);
      memset(&msgs[n], 0, sizeof msgs[n]);
      msgs[n].msg_hdr.msg_name = &sll;
      msgs[n].msg_hdr.msg_namelen = sizeof sll;
      msgs[n].msg_hdr.msg_iov = &iov[n];
      msgs[n].msg_hdr.msg_iovlen = 1;
      n++;
    }
    if (n == 0) {  // a frame outside buf: skip it
      k++;
      continue;
    }
    int r = sendmmsg(fd, msgs, n, MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      k++;  // the first frame was refused: skip it, try the rest
      continue;
    }
    sent += r;
    k += r == 0 ? 1 : r;
  }
  napi_value v;
  napi_create_int32(env, sent, &v);
  return v;
}

// packetClose(fd)
napi_value PacketClose(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!GetArgs(env, info, argv)) return nullptr;
  int32_t fd;
  if (!ToInt(env, argv[0], &fd)) return nullptr;
  if (::close(fd) < 0) return ThrowErrnoValue(env, "close", errno);
  return nullptr;
}

}  // namespace

void RegisterPacket(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"packetOpen", nullptr, PacketOpen, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"packetSend", nullptr, PacketSend, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"packetClose", nullptr, PacketClose, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
