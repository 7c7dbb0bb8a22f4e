// SPDX-License-Identifier: MIT
#include "mdns/backend.hpp"

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>

namespace xnet::mdns {

std::string Address::str() const {
  if (family == AF_INET6 && scope_id != 0 && !interface.empty()) return ip + "%" + interface;
  return ip;
}

EventQueue::EventQueue() { fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

EventQueue::~EventQueue() {
  if (fd_ >= 0) ::close(fd_);
}

void EventQueue::push(BackendEvent e) {
  {
    std::lock_guard lk(mu_);
    q_.push_back(std::move(e));
  }
  cv_.notify_all();
  if (fd_ >= 0) {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
  }
}

std::optional<BackendEvent> EventQueue::pop(std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  if (!cv_.wait_for(lk, timeout, [&] { return !q_.empty(); })) return std::nullopt;
  auto e = std::move(q_.front());
  q_.pop_front();
  if (q_.empty() && fd_ >= 0) {
    std::uint64_t v;
    [[maybe_unused]] auto n = ::read(fd_, &v, sizeof v);
  }
  return e;
}

std::string daemon_hint() {
#if defined(XNET_MDNS_DNS_SD) && defined(__APPLE__)
  return "mDNSResponder should always run on macOS; check 'sudo launchctl list com.apple.mDNSResponder'";
#else
  return "start the Avahi daemon, e.g. 'sudo systemctl start avahi-daemon' (or 'sudo service "
         "avahi-daemon start'); it needs the D-Bus system bus";
#endif
}

#if !defined(XNET_MDNS_AVAHI) && !defined(XNET_MDNS_DNS_SD)
Result<std::unique_ptr<Backend>> make_backend(Trace&) {
  return fail(Category::NotSupported, "this xnet was built without an mDNS backend",
              "rebuild with -DXNET_MDNS_BACKEND=avahi or dns_sd");
}
#endif

}  // namespace xnet::mdns
