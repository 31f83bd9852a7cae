// lvs_native, scheduling part: the real-time policy of the packet thread.
//
// Exports (registered by tun.cc's Init through RegisterSched; typed in src/phy/sched.ts):
//   setRealtime(priority) -> undefined
//   getScheduling() -> {policy: "other"|"fifo"|"rr"|"batch"|"idle"|"deadline"|"unknown",
//                       priority, resetOnFork}
//
// Contracts:
// - Both act on the calling thread only (sched_setscheduler(2) with pid 0 on Linux): the JS
//   thread that reads and writes packets. Node's helper threads keep their policy.
// - setRealtime(p) with 1 <= p <= 99 selects SCHED_RR at priority p, as keepalived's
//   vrrp_rt_priority/checker_rt_priority do; p == 0 returns to SCHED_OTHER. The policy carries
//   SCHED_RESET_ON_FORK, so threads and processes started afterwards (libuv's pool, `ip`, check
//   scripts) begin as SCHED_OTHER instead of inheriting the real-time policy.
// - Errors throw an Error whose code is the errno name (EPERM without CAP_SYS_NICE or when
//   the cgroup has no real-time budget, EINVAL for a priority the kernel rejects).

#include <node_api.h>

#include "napi_util.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif

namespace {

using lvs::ThrowErrno;

napi_value SetRealtime(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  napi_valuetype t = napi_undefined;
  if (argc == 1) napi_typeof(env, argv[0], &t);
  if (t != napi_number) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "priority must be a number");
    return nullptr;
  }
  int32_t prio = 0;
  napi_get_value_int32(env, argv[0], &prio);
  if (prio < 0 || prio > 99) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "priority must be 0..99");
    return nullptr;
  }
  struct sched_param sp;
  memset(&sp, 0, sizeof sp);
  sp.sched_priority = prio;
  const int policy = (prio == 0 ? SCHED_OTHER : SCHED_RR) | SCHED_RESET_ON_FORK;
  if (sched_setscheduler(0, policy, &sp) < 0) return ThrowErrno(env, "sched_setscheduler", errno);
  return nullptr;
}

const char* PolicyName(int policy) {
  switch (policy) {
    case SCHED_OTHER: return "other";
    case SCHED_FIFO: return "fifo";
    case SCHED_RR: return "rr";
    case SCHED_BATCH: return "batch";
    case SCHED_IDLE: return "idle";
#ifdef SCHED_DEADLINE
    case SCHED_DEADLINE: return "deadline";
#endif
    default: return "unknown";
  }
}

napi_value GetScheduling(napi_env env, napi_callback_info /*info*/) {
  const int raw = sched_getscheduler(0);
  if (raw < 0) return ThrowErrno(env, "sched_getscheduler", errno);
  struct sched_param sp;
  if (sched_getparam(0, &sp) < 0) return ThrowErrno(env, "sched_getparam", errno);
  napi_value result, policy, prio, reset;
  napi_create_object(env, &result);
  napi_create_string_utf8(env, PolicyName(raw & ~SCHED_RESET_ON_FORK), NAPI_AUTO_LENGTH, &policy);
  napi_create_int32(env, sp.sched_priority, &prio);
  napi_get_boolean(env, (raw & SCHED_RESET_ON_FORK) != 0, &reset);
  napi_set_named_property(env, result, "policy", policy);
  napi_set_named_property(env, result, "priority", prio);
  napi_set_named_property(env, result, "resetOnFork", reset);
  return result;
}

}  // namespace

void RegisterSched(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"setRealtime", nullptr, SetRealtime, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"getScheduling", nullptr, GetScheduling, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
