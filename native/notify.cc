// lvs_native, service-manager part: sd_notify(3)'s datagram, without libsystemd.
//
// Exports (registered by tun.cc's Init through RegisterNotify; typed in src/daemon/notify.ts):
//   notifySend(socketPath, message) -> undefined
//
// Contracts:
// - socketPath is $NOTIFY_SOCKET: an absolute path of an AF_UNIX datagram socket, or a name in
//   the abstract namespace written with a leading '@' (sd_notify(3)); anything else is EINVAL.
// - One datagram per call from a fresh socket(AF_UNIX, SOCK_DGRAM|SOCK_CLOEXEC), sent with
//   MSG_DONTWAIT|MSG_NOSIGNAL and closed again: it never blocks the calling thread. The
//   sender's credentials travel with it (the kernel attaches them when the receiver has
//   SO_PASSCRED), which is how the service manager tells the main process's messages apart.
// - Errors throw an Error whose code is the errno name (ECONNREFUSED when nothing listens,
//   EAGAIN when the receiver's queue is full, ENAMETOOLONG beyond sun_path).

#include <node_api.h>

#include "napi_util.h"

#include <errno.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

// The longest message sent: notifications are a few NAME=VALUE lines; 4 KiB covers every
// message this project sends.
constexpr size_t kMaxMessage = 4096;

napi_value NotifySend(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!lvs::GetArgs(env, info, argv)) return nullptr;
  char path[sizeof(sockaddr_un::sun_path) + 2];
  size_t path_len = 0;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &path_len) != napi_ok) {
    lvs::TypeError(env, "socketPath", "a string");
    return nullptr;
  }
  static char msg[kMaxMessage + 1];
  size_t msg_len = 0;
  if (napi_get_value_string_utf8(env, argv[1], msg, sizeof msg, &msg_len) != napi_ok) {
    lvs::TypeError(env, "message", "a string");
    return nullptr;
  }
  if (msg_len >= kMaxMessage) return lvs::ThrowErrno(env, "notify", EMSGSIZE);
  if (path_len < 2 || (path[0] != '/' && path[0] != '@')) return lvs::ThrowErrno(env, "notify", EINVAL, "NOTIFY_SOCKET");
  if (path_len > sizeof(sockaddr_un::sun_path)) return lvs::ThrowErrno(env, "notify", ENAMETOOLONG, "NOTIFY_SOCKET");

  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path, path_len);
  if (path[0] == '@') sa.sun_path[0] = '\0';  // abstract namespace: the length delimits the name
  socklen_t sa_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_len + (path[0] == '@' ? 0 : 1));

  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return lvs::ThrowErrno(env, "notify: socket", errno);
  ssize_t n = sendto(fd, msg, msg_len, MSG_DONTWAIT | MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&sa), sa_len);
  int err = errno;
  close(fd);
  if (n < 0) return lvs::ThrowErrno(env, "notify: sendto", err, path);
  return nullptr;
}

}  // namespace

void RegisterNotify(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"notifySend", nullptr, NotifySend, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
