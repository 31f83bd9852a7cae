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

#include "napi_util.h"

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

using lvs::Fail;
using lvs::GetArgs;
using lvs::GetBuffer;
using lvs::GetInt;
using lvs::GetInt32Array;
using lvs::ThrowErrno;

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
  if (fd < 0) return ThrowErrno(env, "socket(AF_PACKET)", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, name_len);
  if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
    int err = errno;
    ::close(fd);
    return ThrowErrno(env, name, err);
  }
  int ifindex = ifr.ifr_ifindex;
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
    int err = errno;
    ::close(fd);
    return ThrowErrno(env, name, err);
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
  uint8_t* data = nullptr;
  size_t data_len = 0;
  int32_t *offs, *lens;
  size_t offs_n, lens_n;
  if (!GetInt(env, argv[0], "fd", &fd) || !GetInt(env, argv[1], "ifindex", &ifindex) ||
      !GetBuffer(env, argv[2], "buf", &data, &data_len) || !GetInt32Array(env, argv[3], "offs", &offs, &offs_n) ||
      !GetInt32Array(env, argv[4], "lens", &lens, &lens_n) || !GetInt(env, argv[5], "count", &count))
    return nullptr;
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
  if (!GetInt(env, argv[0], "fd", &fd)) return nullptr;
  if (::close(fd) < 0) return ThrowErrno(env, "close", errno);
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
