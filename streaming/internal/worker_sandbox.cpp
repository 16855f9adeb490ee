#include "streaming/internal/worker_sandbox.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>

namespace newsreel::streaming {

namespace {

#if defined(__x86_64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_AARCH64;
#else
constexpr uint32_t kAuditArch = 0;  // unknown here: InstallNoNetworkFilter refuses
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
constexpr uint32_t kArg0Low = offsetof(seccomp_data, args[0]);
#else
constexpr uint32_t kArg0Low = offsetof(seccomp_data, args[0]) + 4;
#endif

// socket(domain, ...) for any domain but AF_UNIX: EACCES. The domain is an int for the kernel:
// the low 32 bits of the argument are all it looks at, and all the filter compares.
// clang-format off
constexpr sock_filter kNoNetwork[] = {
    // Only the native ABI: on x86-64, int 0x80 reaches the i386 table, where socketcall(2)
    // would open sockets under other numbers.
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kAuditArch, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
#if defined(__x86_64__)
    // x32 system calls share the arch value and carry this bit in their number.
    BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u /* __X32_SYSCALL_BIT */, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
#endif
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 3),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArg0Low),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EACCES & SECCOMP_RET_DATA)),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};
// clang-format on

}  // namespace

const char* NetworkIsolationName(NetworkIsolation isolation) {
  switch (isolation) {
    case NetworkIsolation::kNone:
      return "none";
    case NetworkIsolation::kNamespace:
      return "a network namespace of their own";
    case NetworkIsolation::kSeccomp:
      return "a seccomp filter that refuses every socket but AF_UNIX";
  }
  return "?";
}

int InstallNoNetworkFilter() noexcept {
  if (kAuditArch == 0) return EINVAL;
  // Required for a filter without CAP_SYS_ADMIN; it also keeps set-user-ID programs from
  // gaining privileges in the worker.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno;
  sock_fprog program{};
  program.len = static_cast<unsigned short>(sizeof kNoNetwork / sizeof kNoNetwork[0]);
  program.filter = const_cast<sock_filter*>(kNoNetwork);
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0) return errno;
  return 0;
}

NetworkIsolation IsolateNetwork(bool force_seccomp) noexcept {
  if (!force_seccomp && unshare(CLONE_NEWNET) == 0) return NetworkIsolation::kNamespace;
  return InstallNoNetworkFilter() == 0 ? NetworkIsolation::kSeccomp : NetworkIsolation::kNone;
}

int64_t CpuHardLimitGrace(int64_t seconds) { return std::clamp<int64_t>(seconds, 1, 10); }

int LimitCpu(int64_t seconds) noexcept {
  rlimit limit{};
  limit.rlim_cur = static_cast<rlim_t>(seconds);
  limit.rlim_max = static_cast<rlim_t>(seconds + CpuHardLimitGrace(seconds));
  return setrlimit(RLIMIT_CPU, &limit) == 0 ? 0 : errno;
}

bool EndedByCpuLimit(int wait_status, double cpu_seconds, int64_t limit_seconds) {
  if (limit_seconds <= 0 || !WIFSIGNALED(wait_status)) return false;
  const int sig = WTERMSIG(wait_status);
  // The kernel counts in ticks: a process ended at its limit may show a hair under it.
  return sig == SIGXCPU ||
         (sig == SIGKILL && cpu_seconds >= static_cast<double>(limit_seconds) - 0.05);
}

NetworkIsolation ProbeNetworkIsolation(bool force_seccomp) {
  const pid_t pid = fork();
  if (pid < 0) return NetworkIsolation::kNone;
  if (pid == 0) {
    const NetworkIsolation got = IsolateNetwork(force_seccomp);
    if (got == NetworkIsolation::kSeccomp) {
      const int fd = socket(AF_INET, SOCK_STREAM, 0);
      if (fd >= 0 || errno != EACCES) _exit(0);  // the filter does not hold: none
    }
    _exit(static_cast<int>(got) + 10);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) < 10) return NetworkIsolation::kNone;
  return static_cast<NetworkIsolation>(WEXITSTATUS(status) - 10);
}

}  // namespace newsreel::streaming
