// lvs_native, eBPF part: thin wrappers around bpf(2) for the real server's IPIP decapsulation.
//
// Exports (registered by tun.cc's Init through RegisterBpf; typed in src/phy/bpf.ts):
//   bpfProgLoad(progType, insns: Buffer, license, name) -> fd
//   bpfMapCreate(mapType, keySize, valueSize, maxEntries, name) -> fd
//   bpfMapLookup(fd, key: Buffer, value: Buffer) -> found (bool)
//   bpfLinkCreate(progFd, ifindex, attachType) -> fd
//   bpfProgTestRun(progFd, dataIn: Buffer, dataOut: Buffer) -> {retval, size}
//   bpfClose(fd)
//
// Contracts:
// - The program is assembled by the caller (src/realserver/ipip-bpf.ts); insns holds struct
//   bpf_insn records (8 bytes each). A rejected program throws an Error whose code is the errno
//   name and whose message ends with the verifier's last lines.
// - Every fd is close-on-exec. A link (BPF_LINK_CREATE) detaches its program when its last fd
//   closes, which includes the process exiting for any reason.
// - attachType and the other enum values are passed as numbers so that the build does not
//   depend on the installed kernel headers knowing them (BPF_TCX_INGRESS is Linux 6.6).

#include <node_api.h>

#include "napi_util.h"

#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace {

long Bpf(int cmd, union bpf_attr* attr) { return syscall(SYS_bpf, cmd, attr, sizeof *attr); }

using lvs::GetArgs;
using lvs::GetBuffer;
using lvs::GetInt;
using lvs::Int32;
using lvs::ThrowErrno;

bool Str(napi_env env, napi_value v, char* out, size_t cap) {
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, out, cap, &n) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected a string");
    return false;
  }
  return true;
}

// The last lines of a verifier log that fit in about 900 bytes.
const char* LogTail(const char* log) {
  size_t n = strlen(log);
  return n > 900 ? log + n - 900 : log;
}

napi_value ProgLoad(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t type;
  uint8_t* insns;
  size_t len;
  char license[64], name[BPF_OBJ_NAME_LEN];
  if (!GetArgs(env, info, argv) || !GetInt(env, argv[0], "progType", &type) ||
      !GetBuffer(env, argv[1], "insns", &insns, &len) || !Str(env, argv[2], license, sizeof license) ||
      !Str(env, argv[3], name, sizeof name))
    return nullptr;
  if (len == 0 || len % sizeof(struct bpf_insn) != 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "insns must hold whole 8-byte instructions");
    return nullptr;
  }
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.prog_type = static_cast<uint32_t>(type);
  a.insns = reinterpret_cast<uint64_t>(insns);
  a.insn_cnt = static_cast<uint32_t>(len / sizeof(struct bpf_insn));
  a.license = reinterpret_cast<uint64_t>(license);
  memcpy(a.prog_name, name, strnlen(name, BPF_OBJ_NAME_LEN - 1));
  long fd = Bpf(BPF_PROG_LOAD, &a);
  if (fd >= 0) return Int32(env, static_cast<int32_t>(fd));
  int err = errno;
  // Load again with the verifier's log for the error message.
  static char log[65536];
  log[0] = '\0';
  a.log_level = 1;
  a.log_buf = reinterpret_cast<uint64_t>(log);
  a.log_size = sizeof log;
  fd = Bpf(BPF_PROG_LOAD, &a);
  if (fd >= 0) {
    close(static_cast<int>(fd));  // accepted with a log: report the first failure
    return ThrowErrno(env, "BPF_PROG_LOAD", err);
  }
  return ThrowErrno(env, "BPF_PROG_LOAD", errno, LogTail(log));
}

napi_value MapCreate(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  int32_t type, key, value, max;
  char name[BPF_OBJ_NAME_LEN];
  if (!GetArgs(env, info, argv) || !GetInt(env, argv[0], "mapType", &type) || !GetInt(env, argv[1], "keySize", &key) ||
      !GetInt(env, argv[2], "valueSize", &value) || !GetInt(env, argv[3], "maxEntries", &max) ||
      !Str(env, argv[4], name, sizeof name))
    return nullptr;
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_type = static_cast<uint32_t>(type);
  a.key_size = static_cast<uint32_t>(key);
  a.value_size = static_cast<uint32_t>(value);
  a.max_entries = static_cast<uint32_t>(max);
  memcpy(a.map_name, name, strnlen(name, BPF_OBJ_NAME_LEN - 1));
  long fd = Bpf(BPF_MAP_CREATE, &a);
  if (fd < 0) return ThrowErrno(env, "BPF_MAP_CREATE", errno);
  return Int32(env, static_cast<int32_t>(fd));
}

napi_value MapLookup(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd;
  uint8_t *key, *value;
  size_t key_len, value_len;
  if (!GetArgs(env, info, argv) || !GetInt(env, argv[0], "fd", &fd) || !GetBuffer(env, argv[1], "key", &key, &key_len) ||
      !GetBuffer(env, argv[2], "value", &value, &value_len))
    return nullptr;
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_fd = static_cast<uint32_t>(fd);
  a.key = reinterpret_cast<uint64_t>(key);
  a.value = reinterpret_cast<uint64_t>(value);
  napi_value found;
  if (Bpf(BPF_MAP_LOOKUP_ELEM, &a) < 0) {
    if (errno != ENOENT) return ThrowErrno(env, "BPF_MAP_LOOKUP_ELEM", errno);
    napi_get_boolean(env, false, &found);
  } else {
    napi_get_boolean(env, true, &found);
  }
  return found;
}

// bpfMapUpdate(fd, key, value): BPF_MAP_UPDATE_ELEM with BPF_ANY.
napi_value MapUpdate(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd;
  uint8_t *key, *value;
  size_t key_len, value_len;
  if (!GetArgs(env, info, argv) || !GetInt(env, argv[0], "fd", &fd) || !GetBuffer(env, argv[1], "key", &key, &key_len) ||
      !GetBuffer(env, argv[2], "value", &value, &value_len))
    return nullptr;
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_fd = static_cast<uint32_t>(fd);
  a.key = reinterpret_cast<uint64_t>(key);
  a.value = reinterpret_cast<uint64_t>(value);
  a.flags = BPF_ANY;
  if (Bpf(BPF_MAP_UPDATE_ELEM, &a) < 0) return ThrowErrno(env, "BPF_MAP_UPDATE_ELEM", errno);
  return nullptr;
}

// bpfMapDelete(fd, key) -> whether the key was there.
napi_value MapDelete(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  uint8_t* key;
  size_t key_len;
  if (!GetArgs(env, info, argv) || !GetInt(env, argv[0], "fd", &fd) || !GetBuffer(env, argv[1], "key", &key, &key_len))
    return nullptr;
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_fd = static_cast<uint32_t>(fd);
  a.key = reinterpret_cast<uint64_t>(key);
  napi_value found;
  if (Bpf(BPF_MAP_DELETE_ELEM, &a) < 0) {
    if (errno != ENOENT) return ThrowErrno(env, "BPF_MAP_DELETE_ELEM", errno);
    napi_get_boolean(env, false, &found);
  } else {
    napi_get_boolean(env, true, &found);
  }
  return found;
}

napi_value LinkCreate(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t prog, ifindex, type;
  if (!GetArgs(env, info, argv) || !GetInt(env, argv[0], "progFd", &prog) ||
      !GetInt(env, argv[1], "ifindex", &ifindex) || !GetInt(env, argv[2], "attachType", &type))
    return nullptr;
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.link_create.prog_fd = static_cast<uint32_t>(prog);
  a.link_create.target_ifindex = static_cast<uint32_t>(ifindex);
  a.link_create.attach_type = static_cast<uint32_t>(type);
  long fd = Bpf(BPF_LINK_CREATE, &a);
  if (fd < 0) return ThrowErrno(env, "BPF_LINK_CREATE", errno);
  return Int32(env, static_cast<int32_t>(fd));
}

napi_value ProgTestRun(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t prog;
  uint8_t *in, *out;
  size_t in_len, out_len;
  if (!GetArgs(env, info, argv) || !GetInt(env, argv[0], "progFd", &prog) ||
      !GetBuffer(env, argv[1], "dataIn", &in, &in_len) || !GetBuffer(env, argv[2], "dataOut", &out, &out_len))
    return nullptr;
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.test.prog_fd = static_cast<uint32_t>(prog);
  a.test.data_in = reinterpret_cast<uint64_t>(in);
  a.test.data_size_in = static_cast<uint32_t>(in_len);
  a.test.data_out = reinterpret_cast<uint64_t>(out);
  a.test.data_size_out = static_cast<uint32_t>(out_len);
  a.test.repeat = 1;
  if (Bpf(BPF_PROG_TEST_RUN, &a) < 0) return ThrowErrno(env, "BPF_PROG_TEST_RUN", errno);
  napi_value r;
  napi_create_object(env, &r);
  napi_set_named_property(env, r, "retval", Int32(env, static_cast<int32_t>(a.test.retval)));
  napi_set_named_property(env, r, "size", Int32(env, static_cast<int32_t>(a.test.data_size_out)));
  return r;
}

napi_value BpfClose(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!GetArgs(env, info, argv) || !GetInt(env, argv[0], "fd", &fd)) return nullptr;
  if (close(fd) < 0) return ThrowErrno(env, "close", errno);
  return nullptr;
}

}  // namespace

void RegisterBpf(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"bpfProgLoad", nullptr, ProgLoad, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"bpfMapCreate", nullptr, MapCreate, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"bpfMapLookup", nullptr, MapLookup, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"bpfMapUpdate", nullptr, MapUpdate, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"bpfMapDelete", nullptr, MapDelete, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"bpfLinkCreate", nullptr, LinkCreate, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"bpfProgTestRun", nullptr, ProgTestRun, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"bpfClose", nullptr, BpfClose, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
