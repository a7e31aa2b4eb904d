// libFuzzer harness for the memif control-message parser and the descriptor validation: the
// real Session (either role) is fed fuzzed messages with fuzzed fds (memfds of any size, sealed
// or not, eventfds, pipes); once a handshake completes, the fuzzer writes the peer's side of the
// shared memory (indices, descriptors) and the driver's own rx_burst/tx_burst run on it with a
// real buffer pool. Bytes past each region's declared size are ASan-poisoned, so any access
// outside the negotiated memory is reported, as is any buffer or fd leak.
//
// Input: a role/config header, then records [op][len][payload]. See make_seeds.py.
#include <fcntl.h>
#include <sanitizer/asan_interface.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "../datapath.h"
#include "../session.h"

using namespace quiver;
using namespace quiver::memif;

namespace {

// MEMIF_FUZZ_VERBOSE=1: say how far each input got (checks that seeds reach the ring code).
const bool kVerbose = getenv("MEMIF_FUZZ_VERBOSE") != nullptr;

struct Input {
  const uint8_t* p;
  size_t n;
  uint8_t u8() { return n ? (--n, *p++) : 0; }
  uint16_t u16() { return uint16_t(u8() | (u8() << 8)); }
  uint32_t u32() { return uint32_t(u16() | (uint32_t(u16()) << 16)); }
  size_t take(uint8_t* out, size_t want) {
    const size_t k = want < n ? want : n;
    std::memcpy(out, p, k);
    p += k;
    n -= k;
    return k;
  }
};

enum Op : uint8_t { kMsg, kWrite, kRx, kTx, kOpCount };
enum FdKind : uint8_t { kNoFd, kRegion, kEventfd, kPipe, kUnsealable, kFdKinds };

BufferPool& pool() {
  static BufferPool* p = [] {
    auto* bp = new BufferPool();
    bp->create(PoolConfig{1024, "off"});
    return bp;
  }();
  return *p;
}

// Regions the fuzzer (as the peer) created, mapped on its side too so it can write into them.
struct PeerRegion {
  int fd;
  uint8_t* base;
  uint64_t size;
};

int make_fd(Input& in, FdKind kind, std::vector<PeerRegion>& mine) {
  switch (kind) {
    case kRegion:
    case kUnsealable: {
      const uint32_t size = 1 + in.u32() % (1u << 20);
      const int fd = memfd_create("fuzz", kind == kRegion ? MFD_ALLOW_SEALING : 0);
      if (fd < 0 || ftruncate(fd, size) != 0) abort();
      void* b = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (b == MAP_FAILED) abort();
      mine.push_back({fd, static_cast<uint8_t*>(b), size});
      return dup(fd);  // the session owns what it receives
    }
    case kEventfd: return eventfd(0, EFD_NONBLOCK);
    case kPipe: {
      int p[2];
      if (pipe(p) != 0) abort();
      close(p[1]);
      return p[0];
    }
    default: return -1;
  }
}

// The lowest free fd number: fds are allocated lowest first, so any fd leaked by an input
// raises it. (Cheaper than listing /proc/self/fd on every run.)
int lowest_free_fd() {
  const int fd = dup(0);
  close(fd);
  return fd;
}

// The packet-path state go_live would build.
struct Live {
  std::unique_ptr<Connection> conn;
  std::vector<RegionView> regions;
  std::vector<RxState> rx;
  std::unique_ptr<TxState[]> tx;
  uint32_t n_tx = 0;
};

std::unique_ptr<Live> make_live(std::unique_ptr<Connection> c) {
  auto l = std::make_unique<Live>();
  for (const auto& r : c->regions) {
    l->regions.push_back({r.base, r.size});
    // Everything past the declared size up to the end of the last page is not ours to touch.
    const uintptr_t end = reinterpret_cast<uintptr_t>(r.base) + r.size;
    const uintptr_t page_end = (end + 4095) & ~uintptr_t(4095);
    if (page_end > end) ASAN_POISON_MEMORY_REGION(reinterpret_cast<void*>(end), page_end - end);
  }
  const int rx_dir = c->role == Role::Server ? 0 : 1;
  l->rx.resize(c->rx().size());
  for (uint32_t q = 0; q < l->rx.size(); ++q) {
    l->rx[q].v = make_ring_view(*c, c->rx()[q], rx_dir, q);
    l->rx[q].posted = c->role == Role::Client ? l->rx[q].v.size : 0;
  }
  l->n_tx = uint32_t(c->tx().size());
  l->tx.reset(new TxState[l->n_tx]);
  for (uint32_t q = 0; q < l->n_tx; ++q) l->tx[q].v = make_ring_view(*c, c->tx()[q], 1 - rx_dir, q);
  l->conn = std::move(c);
  return l;
}

void unpoison(const Live& l) {
  for (const auto& r : l.regions) {
    const uintptr_t end = reinterpret_cast<uintptr_t>(r.base) + r.size;
    const uintptr_t page_end = (end + 4095) & ~uintptr_t(4095);
    if (page_end > end) ASAN_UNPOISON_MEMORY_REGION(reinterpret_cast<void*>(end), page_end - end);
  }
}

void run_packets(Input& in, Live& l, BufferCache& cache) {
  while (in.n) {
    const uint8_t op = in.u8() % kOpCount;
    const uint8_t len = in.u8();
    if (op == kWrite) {
      // The peer scribbles on shared memory: indices, flags, descriptors, data.
      if (l.regions.empty()) return;
      const RegionView& r = l.regions[in.u8() % l.regions.size()];
      const uint32_t off = in.u32() % uint32_t(r.size);
      uint8_t buf[256];
      const size_t k = in.take(buf, len);
      const size_t room = std::min<uint64_t>(k, r.size - off);
      std::memcpy(r.base + off, buf, room);
    } else if (op == kRx) {
      if (l.rx.empty()) continue;
      RxState& r = l.rx[len % l.rx.size()];
      uint32_t bi[256];
      RxResult res;
      const uint32_t n = rx_burst(pool(), cache, r, l.regions.data(), uint32_t(l.regions.size()), l.conn->role, 1, bi,
                                  1 + in.u8(), res);
      for (uint32_t i = 0; i < n; ++i) {
        Buffer* b = pool().buffer(bi[i]);
        if (b->total_length() == 0 || b->total_length() > kMaxFrame) abort();
        volatile uint8_t sink = b->data()[b->length - 1];  // touch what was copied
        (void)sink;
      }
      if (kVerbose) fprintf(stderr, "  rx: %u packets, avail %u%s%s\n", n, res.avail, res.bad_desc ? ", bad descriptor" : "",
                            res.bad_index ? ", bad index" : "");
      pool().free(cache, bi, n);
    } else if (op == kTx) {
      if (!l.n_tx) continue;
      TxState& t = l.tx[len % l.n_tx];
      const uint32_t count = 1 + in.u8() % 64;
      uint32_t bi[64];
      uint32_t got = 0;
      for (uint32_t i = 0; i < count; ++i) {
        uint32_t total = in.u16() % 9300;
        uint32_t head;
        if (pool().alloc(cache, &head, 1) != 1) break;
        Buffer* b = pool().buffer(head);
        b->reset(uint16_t(std::min<uint32_t>(total, kDataSize)));
        std::memset(b->data(), int(i), b->length);
        Buffer* prev = b;
        uint32_t left = total - b->length;
        while (left) {  // a pool chain, as a jumbo frame received on another interface would be
          uint32_t nb;
          if (pool().alloc(cache, &nb, 1) != 1) break;
          Buffer* c = pool().buffer(nb);
          c->reset(uint16_t(std::min<uint32_t>(left, kDataSize)));
          prev->flags |= kBufNextPresent;
          prev->next_buffer = nb;
          left -= c->length;
          prev = c;
        }
        b->total_length_not_including_first = total - left - b->length;
        bi[got++] = head;
      }
      TxResult res;
      tx_burst(pool(), t, l.regions.data(), uint32_t(l.regions.size()), l.conn->role, bi, got, res);
      if (res.sent + res.no_space + res.aborted > got) abort();
      if (kVerbose) fprintf(stderr, "  tx: %u of %u sent%s\n", res.sent, got, res.bad_desc || res.bad_index ? ", invalid ring" : "");
      pool().free(cache, bi, got);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Per input: between inputs the sanitizer runtime may open its symbolizer pipes for good.
  pool();
  const int baseline_fd = lowest_free_fd();
  Input in{data, size};
  Config cfg;
  const uint8_t h = in.u8();
  cfg.role = (h & 1) ? Role::Client : Role::Server;
  cfg.mode = (h & 2) ? Mode::Ip : Mode::Ethernet;
  cfg.secret = (h & 4) ? "s3cret" : "";
  cfg.cache_line = (h & 8) ? 128 : 64;
  cfg.allow_unsealed = h & 16;
  cfg.rx_queues = uint16_t(1 + (h >> 5) % 3);
  cfg.tx_queues = uint16_t(1 + in.u8() % 3);
  cfg.log2_ring_size = uint8_t(1 + in.u8() % 8);
  cfg.buffer_size = 128 + in.u16() % 4096;
  cfg.id = 7;
  cfg.if_name = "fuzz0";
  std::unique_ptr<Session> s;
  if (cfg.role == Role::Server) {
    s = Session::server([&cfg](uint32_t id, Error* err) -> const Config* {
      if (id != cfg.id) {
        *err = Error::UnknownId;
        return nullptr;
      }
      return &cfg;
    }, "fuzz");
  } else {
    s = Session::client(cfg);
  }
  std::vector<PeerRegion> mine;
  uint8_t out[kMsgSize];
  int ofd;
  while (s->pop_outgoing(out, &ofd)) {
  }
  std::unique_ptr<Live> live;
  while (in.n && !live) {
    const uint8_t op = in.u8() % kOpCount;
    const uint8_t len = in.u8();
    if (op == kWrite) {  // into a region the peer created (server role)
      if (mine.empty()) continue;
      PeerRegion& r = mine[in.u8() % mine.size()];
      const uint32_t off = in.u32() % uint32_t(r.size);
      uint8_t buf[256];
      const size_t k = in.take(buf, len);
      std::memcpy(r.base + off, buf, std::min<uint64_t>(k, r.size - off));
      continue;
    }
    if (op != kMsg) continue;
    uint8_t msg[kMsgSize] = {};
    const size_t k = in.take(msg, len > kMsgSize ? kMsgSize : len);
    const long msg_len = len == 0xff ? long(kMsgSize) : long(k);  // 0xff: a full message, zero padded
    const int fd = make_fd(in, FdKind(in.u8() % kFdKinds), mine);
    const Session::Step step = s->on_message(msg, msg_len, fd);
    s->pop_outgoing(out, &ofd);  // lock-step: one message out per message in, as the driver does
    if (step == Session::Step::Close) {
      if (kVerbose) fprintf(stderr, "  closed: %s (%s)\n", error_name(s->error()), s->reason().c_str());
      break;
    }
    if (step == Session::Step::Connected) live = make_live(s->take_connection());
  }
  BufferCache cache;
  if (kVerbose) fprintf(stderr, "%s: %s\n", cfg.role == Role::Server ? "server" : "client", live ? "connected" : "not connected");
  if (live) {
    run_packets(in, *live, cache);
    unpoison(*live);
  }
  live.reset();
  s.reset();
  for (auto& r : mine) {
    munmap(r.base, r.size);
    close(r.fd);
  }
  pool().drain(cache);
  if (pool().free_count() != pool().total()) {
    fprintf(stderr, "buffer leak: %u of %u free\n", pool().free_count(), pool().total());
    abort();
  }
  // libFuzzer's RSS thread opens /proc files now and then: a leak is a raise that persists.
  int tries = 0;
  while (lowest_free_fd() != baseline_fd && ++tries < 20) usleep(500);
  if (tries == 20) {
    char path[64], what[128] = {};
    snprintf(path, sizeof path, "/proc/self/fd/%d", baseline_fd);
    if (readlink(path, what, sizeof what - 1) < 0) what[0] = '?';
    fprintf(stderr, "fd leak: lowest free fd %d, %d at start; fd %d is %s\n", lowest_free_fd(), baseline_fd, baseline_fd, what);
    abort();
  }
  return 0;
}
