// lvs_native: argument and error helpers shared by every part of the addon (tun.cc, packet.cc,
// sched.cc, bpf.cc). Each Get* returns false with a pending JS exception on failure; the
// Throw* helpers return nullptr so that a binding can `return ThrowErrno(...)`.
#ifndef LVS_NATIVE_NAPI_UTIL_H_
#define LVS_NATIVE_NAPI_UTIL_H_

#include <node_api.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

namespace lvs {

inline bool Fail(napi_env env, const char* code, const char* msg) {
  napi_throw_error(env, code, msg);
  return false;
}

// Throws an Error whose code is the errno name and whose message is "what: strerror(err)",
// followed by "; detail" when detail is not empty.
inline napi_value ThrowErrno(napi_env env, const char* what, int err, const char* detail = nullptr) {
  char msg[1200];
  if (detail != nullptr && detail[0] != '\0') {
    snprintf(msg, sizeof msg, "%s: %s; %s", what, strerror(err), detail);
  } else {
    snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  }
  const char* code = strerrorname_np(err);
  napi_throw_error(env, code ? code : "EOTHER", msg);
  return nullptr;
}

// The first N arguments (and the binding's data pointer when data is given).
template <size_t N>
bool GetArgs(napi_env env, napi_callback_info info, napi_value (&argv)[N], void** data = nullptr) {
  size_t argc = N;
  napi_get_cb_info(env, info, &argc, argv, nullptr, data);
  if (argc < N) {
    char msg[64];
    snprintf(msg, sizeof msg, "expected %zu arguments, got %zu", N, argc);
    napi_throw_type_error(env, "ERR_MISSING_ARGS", msg);
    return false;
  }
  return true;
}

inline bool TypeError(napi_env env, const char* what, const char* expected) {
  char msg[96];
  snprintf(msg, sizeof msg, "%s must be %s", what, expected);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return false;
}

inline bool GetInt(napi_env env, napi_value v, const char* what, int32_t* out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_number) return TypeError(env, what, "a number");
  napi_get_value_int32(env, v, out);
  return true;
}

inline bool GetBuffer(napi_env env, napi_value v, const char* what, uint8_t** data, size_t* len) {
  bool is_buf = false;
  napi_is_buffer(env, v, &is_buf);
  if (!is_buf) return TypeError(env, what, "a Buffer");
  napi_get_buffer_info(env, v, reinterpret_cast<void**>(data), len);
  return true;
}

inline bool GetInt32Array(napi_env env, napi_value v, const char* what, int32_t** data, size_t* len) {
  bool is_ta = false;
  napi_is_typedarray(env, v, &is_ta);
  napi_typedarray_type type = napi_uint8_array;
  void* p = nullptr;
  if (is_ta) napi_get_typedarray_info(env, v, &type, len, &p, nullptr, nullptr);
  if (!is_ta || type != napi_int32_array) return TypeError(env, what, "an Int32Array");
  *data = static_cast<int32_t*>(p);
  return true;
}

inline napi_value Int32(napi_env env, int32_t v) {
  napi_value r;
  napi_create_int32(env, v, &r);
  return r;
}

}  // namespace lvs

#endif  // LVS_NATIVE_NAPI_UTIL_H_
