// SPDX-License-Identifier: MIT
#include "pass/relay.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <asio/system_error.hpp>
#include <asio/use_awaitable.hpp>

namespace xnet::pass {

RateLimiter::RateLimiter(std::uint64_t bytes_per_second)
    : rate_(std::max<std::uint64_t>(bytes_per_second, 1)),
      tokens_(static_cast<double>(rate_)),
      last_(std::chrono::steady_clock::now()) {}

void RateLimiter::refill() {
  auto now = std::chrono::steady_clock::now();
  double secs = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  tokens_ = std::min(static_cast<double>(rate_), tokens_ + secs * static_cast<double>(rate_));
}

std::size_t RateLimiter::take(std::size_t want) {
  refill();
  if (tokens_ < 1) return 0;
  auto n = std::min<std::size_t>(want, static_cast<std::size_t>(tokens_));
  tokens_ -= static_cast<double>(n);
  return n;
}

void RateLimiter::refund(std::size_t n) { tokens_ += static_cast<double>(n); }

std::chrono::milliseconds RateLimiter::wait() const {
  // Wait for a 16 KiB chunk (or the whole rate when smaller) so tiny splices are avoided.
  double chunk = std::min<double>(16384.0, static_cast<double>(rate_));
  double need = std::max(0.0, chunk - tokens_);
  auto ms = static_cast<long>(need * 1000.0 / static_cast<double>(rate_)) + 1;
  return std::chrono::milliseconds(std::clamp(ms, 1L, 1000L));
}

namespace {

using asio::posix::stream_descriptor;
constexpr std::size_t kPipeSize = 1 << 20;
constexpr std::size_t kCopyBuffer = 64 * 1024;
constexpr std::size_t kSmallRead = 16 * 1024;

bool is_socket(int fd) {
  struct stat st {};
  return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

// One descriptor of a relay. Regular files cannot be polled (epoll refuses them) but never
// block either: they get no stream_descriptor and their waits return at once.
struct Fd {
  int fd = -1;
  std::unique_ptr<stream_descriptor> desc;
  bool socket = false;
  bool closed = false;
  void close() {
    if (closed) return;
    closed = true;
    asio::error_code ec;
    if (desc) desc->close(ec);
    else ::close(fd);
  }
};

struct Direction {
  Fd* in = nullptr;
  Fd* out = nullptr;
  int pipe_r = -1, pipe_w = -1;
  bool splice_in = true, splice_out = true;
  bool small = false;  // interactive traffic: copy through buf (lower latency than a splice pair)
  bool done = false;
  std::uint64_t bytes = 0;
  std::vector<char> buf;
};

class Relay : public std::enable_shared_from_this<Relay> {
 public:
  Relay(asio::io_context& io, RelayEnd a, RelayEnd b, RelayOptions o,
        std::function<void(const RelayResult&)> done)
      : io_(io), opts_(std::move(o)), done_(std::move(done)), half_close_timer_(io) {
    auto a_r = adopt(a.rfd), a_w = a.wfd == a.rfd ? a_r : adopt(a.wfd);
    auto b_r = adopt(b.rfd), b_w = b.wfd == b.rfd ? b_r : adopt(b.wfd);
    dirs_[0].in = a_r;
    dirs_[0].out = b_w;
    dirs_[1].in = b_r;
    dirs_[1].out = a_w;
    for (auto& d : dirs_) {
      int p[2];
      if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) {
        d.splice_in = d.splice_out = false;
        continue;
      }
      fcntl(p[1], F_SETPIPE_SZ, static_cast<int>(kPipeSize));  // best effort: fewer syscalls
      d.pipe_r = p[0];
      d.pipe_w = p[1];
    }
  }

  ~Relay() {
    for (auto& d : dirs_) {
      if (d.pipe_r >= 0) ::close(d.pipe_r);
      if (d.pipe_w >= 0) ::close(d.pipe_w);
    }
  }

  void start() {
    if (opts_.counters) {
      ++opts_.counters->relays;
      ++opts_.counters->relays_total;
    }
    for (int i = 0; i < 2; ++i) {
      asio::co_spawn(io_, pump(i), [self = shared_from_this(), i](std::exception_ptr) {
        self->direction_ended(i);
      });
    }
  }

 private:
  Fd* adopt(int fd) {
    auto f = std::make_unique<Fd>();
    f->fd = fd;
    f->socket = is_socket(fd);
    struct stat st {};
    if (!(fstat(fd, &st) == 0 && S_ISREG(st.st_mode))) {
      f->desc = std::make_unique<stream_descriptor>(io_);
      asio::error_code ec;
      f->desc->assign(fd, ec);
      if (ec) f->desc.reset();
      else f->desc->non_blocking(true, ec);
    }
    fds_.push_back(std::move(f));
    return fds_.back().get();
  }

  asio::awaitable<void> wait(Fd* f, stream_descriptor::wait_type w) {
    // A cancel() only reaches waits already queued: one started after abort must not block.
    if (aborted_) throw asio::system_error(asio::error::operation_aborted);
    if (f->desc) co_await f->desc->async_wait(w, asio::use_awaitable);
  }

  // Move pending bytes from the pipe (or the copy buffer) to out. Returns false on error.
  asio::awaitable<bool> flush(Direction& d, std::size_t left, bool from_buf) {
    const int out = d.out->fd;
    std::size_t off = 0;
    while (left > 0) {
      ssize_t w;
      if (from_buf) {
        w = ::write(out, d.buf.data() + off, left);
      } else if (d.splice_out) {
        w = ::splice(d.pipe_r, nullptr, out, nullptr, left, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (w < 0 && errno == EINVAL) {
          // out cannot take a splice (e.g. a terminal): drain the pipe by copying from now on.
          d.splice_out = false;
          continue;
        }
      } else {
        std::vector<char> tmp(std::min(left, kCopyBuffer));
        ssize_t r = ::read(d.pipe_r, tmp.data(), tmp.size());
        if (r <= 0) co_return false;
        std::size_t done = 0;
        while (done < static_cast<std::size_t>(r)) {
          ssize_t x = ::write(out, tmp.data() + done, static_cast<std::size_t>(r) - done);
          if (x < 0 && errno == EAGAIN) {
            co_await wait(d.out, stream_descriptor::wait_write);
            continue;
          }
          if (x < 0 && errno == EINTR) continue;
          if (x <= 0) co_return false;
          done += static_cast<std::size_t>(x);
        }
        left -= static_cast<std::size_t>(r);
        continue;
      }
      if (w < 0 && errno == EAGAIN) {
        co_await wait(d.out, stream_descriptor::wait_write);
        continue;
      }
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) co_return false;
      left -= static_cast<std::size_t>(w);
      off += static_cast<std::size_t>(w);
    }
    co_return true;
  }

  asio::awaitable<void> pump(int index) {
    Direction& d = dirs_[index];
    const int in = d.in->fd;
    if (d.pipe_r < 0) d.splice_in = false;
    for (;;) {
      if (aborted_) co_return;
      const bool copy = !d.splice_in || d.small;
      if (copy && d.buf.empty()) d.buf.resize(kCopyBuffer);
      const std::size_t chunk = copy ? d.buf.size() : kPipeSize;
      std::size_t want = chunk;
      if (opts_.limiter) {
        while ((want = opts_.limiter->take(chunk)) == 0) {
          asio::steady_timer t(io_, opts_.limiter->wait());
          co_await t.async_wait(asio::use_awaitable);
        }
      }
      ssize_t n;
      if (!copy) {
        n = ::splice(in, nullptr, d.pipe_w, nullptr, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n < 0 && errno == EINVAL) {
          if (opts_.limiter) opts_.limiter->refund(want);
          d.splice_in = false;  // in cannot splice (e.g. a terminal): plain copies from now on
          continue;
        }
      } else {
        n = ::read(in, d.buf.data(), want);
      }
      int err = errno;
      if (opts_.limiter) opts_.limiter->refund(want - static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
      if (n < 0 && (err == EAGAIN || err == EINTR)) {
        if (err == EAGAIN) co_await wait(d.in, stream_descriptor::wait_read);
        continue;
      }
      if (n < 0) {
        failed_ = true;
        abort();
        co_return;
      }
      if (n == 0) break;
      d.bytes += static_cast<std::uint64_t>(n);
      if (opts_.counters) opts_.counters->bytes += static_cast<std::uint64_t>(n);
      // Small reads mean interactive traffic, where one read/write pair beats two splices;
      // a read that fills the copy buffer means bulk again, where splice saves the copies.
      if (!copy && static_cast<std::size_t>(n) < kSmallRead) d.small = true;
      else if (copy && d.splice_in && static_cast<std::size_t>(n) == chunk) d.small = false;
      if (!co_await flush(d, static_cast<std::size_t>(n), copy)) {
        failed_ = true;
        abort();
        co_return;
      }
    }
    // FIN from in: pass the half-close on.
    if (d.out->socket) {
      ::shutdown(d.out->fd, SHUT_WR);
    } else if (d.out != d.in) {
      d.out->close();
    }
    d.done = true;
  }

  void direction_ended(int index) {
    ++ended_;
    if (ended_ == 2) {
      finish();
      return;
    }
    if (dirs_[index].done && !aborted_) {
      // One side sent FIN; the other gets a bounded time to finish its direction.
      half_close_timer_.expires_after(opts_.half_close_timeout);
      half_close_timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
        if (!ec) self->abort();
      });
    } else {
      abort();
    }
  }

  void abort() {
    if (aborted_) return;
    aborted_ = true;
    asio::error_code ec;
    for (auto& f : fds_)
      if (f->desc) f->desc->cancel(ec);
  }

  void finish() {
    half_close_timer_.cancel();
    for (auto& f : fds_) f->close();
    if (opts_.counters) --opts_.counters->relays;
    RelayResult r{dirs_[0].bytes, dirs_[1].bytes, failed_};
    if (done_) done_(r);
  }

  asio::io_context& io_;
  RelayOptions opts_;
  std::function<void(const RelayResult&)> done_;
  std::vector<std::unique_ptr<Fd>> fds_;
  Direction dirs_[2];
  asio::steady_timer half_close_timer_;
  int ended_ = 0;
  bool aborted_ = false;
  bool failed_ = false;
};

}  // namespace

void start_relay(asio::io_context& io, RelayEnd a, RelayEnd b, RelayOptions options,
                 std::function<void(const RelayResult&)> done) {
  // splice(2) has no MSG_NOSIGNAL: a peer that closed would otherwise kill the process.
  static const bool sigpipe_ignored = [] {
    ::signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)sigpipe_ignored;
  auto r = std::make_shared<Relay>(io, a, b, std::move(options), std::move(done));
  r->start();
}

}  // namespace xnet::pass
