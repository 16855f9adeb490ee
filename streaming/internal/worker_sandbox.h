#pragma once
// What a worker process may touch, set up in the child between fork and exec (supervisor.cpp):
// no network (a network namespace of its own, or a seccomp filter where namespaces are not
// permitted) and a CPU-time limit. Every function marked "child" is async-signal-safe (no
// allocation, no locks), as a child of a multi-threaded process requires.

#include <cstdint>

namespace newsreel::streaming {

// How a worker is kept off the network.
enum class NetworkIsolation {
  kNone,       // it is not: the worker must not start
  kNamespace,  // a network namespace of its own: no interface but a loopback that is down
  kSeccomp,    // a seccomp filter: socket() of every family but AF_UNIX fails with EACCES
};

const char* NetworkIsolationName(NetworkIsolation isolation);

// Child. Sets no_new_privs and installs the seccomp filter: socket() of any family but AF_UNIX
// fails with EACCES; io_uring_setup fails with ENOSYS (an io_uring could open sockets past the
// filter); a system call of another ABI (i386 through int 0x80, x32) kills the process.
// Returns 0, or the errno of the call that failed (EINVAL on an architecture it does not know).
int InstallNoNetworkFilter() noexcept;

// Child. A network namespace of its own, else (unshare fails: EPERM without CAP_SYS_ADMIN) the
// seccomp filter; `force_seccomp` skips the namespace. kNone when both failed.
NetworkIsolation IsolateNetwork(bool force_seccomp) noexcept;

// Child. RLIMIT_CPU: SIGXCPU once the process has used `seconds` of CPU time, SIGKILL
// CpuHardLimitGrace(seconds) later (for a worker that ignores SIGXCPU). 0 or errno.
int LimitCpu(int64_t seconds) noexcept;
int64_t CpuHardLimitGrace(int64_t seconds);

// Whether a worker that ended with `wait_status` after `cpu_seconds` of CPU time (user +
// system, from wait4) was ended by a CPU limit of `limit_seconds`: killed by SIGXCPU, or by
// SIGKILL at or past the soft limit (the kernel's hard limit; nobody else's SIGKILL is counted
// by the caller, which knows when it killed the worker itself).
bool EndedByCpuLimit(int wait_status, double cpu_seconds, int64_t limit_seconds);

// What workers on this system get, found by trying it in a short-lived child once, with a
// socket(AF_INET) that must fail under the filter. For the log at start.
NetworkIsolation ProbeNetworkIsolation(bool force_seccomp);

}  // namespace newsreel::streaming
