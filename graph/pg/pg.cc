#include "pg.h"

#include <cstdio>
#include <cstring>
#include <string>

#include "../../native/clock.h"
#include "../../native/engine.h"
#include "../../native/headers/ethernet.h"
#include "../../native/headers/ip.h"
#include "../../native/worker.h"

namespace quiver {

PgInterface* g_pg_interfaces[kMaxInterfaces];

namespace {

enum class PgNext : uint16_t { EthernetInput, Count };
enum PgInputError : uint32_t { kPgNoBuffer };

inline void put_be(uint8_t* p, uint8_t width, uint32_t v) {
  if (width == 1) p[0] = uint8_t(v);
  else if (width == 2) { p[0] = uint8_t(v >> 8); p[1] = uint8_t(v); }
  else { p[0] = uint8_t(v >> 24); p[1] = uint8_t(v >> 16); p[2] = uint8_t(v >> 8); p[3] = uint8_t(v); }
}

inline uint64_t xorshift(uint64_t& s) {
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

// Writes packet number `seq` of stream s into b; returns its length.
inline uint16_t pg_fill(PgStream& s, Buffer* b, uint64_t seq) {
  const auto& tpl = s.packets[seq % s.packets.size()];
  uint16_t len = uint16_t(tpl.size());
  if (s.size_max) {
    const uint32_t span = uint32_t(s.size_max - s.size_min) + 1;
    len = uint16_t(s.size_min + seq % span);
  }
  uint8_t* d = b->data();
  const uint16_t copy = len < tpl.size() ? len : uint16_t(tpl.size());
  std::memcpy(d, tpl.data(), copy);
  if (copy < len) std::memset(d + copy, 0, len - copy);
  b->length = len;
  for (const auto& f : s.fields) {
    if (f.offset + f.width > len) continue;
    const uint32_t k = f.random ? uint32_t(xorshift(s.rng) % f.count) : uint32_t(seq % f.count);
    put_be(d + f.offset, f.width, f.start + k * f.step);
  }
  if (s.ip4_offset >= 0 && (!s.fields.empty() || s.size_max != 0) && uint32_t(s.ip4_offset) + 20 <= len) {
    auto* ip = reinterpret_cast<Ip4Header*>(d + s.ip4_offset);
    const uint16_t ip_len = uint16_t(len - s.ip4_offset);
    ip->total_length_be = htons(ip_len);
    ip->set_checksum();
    if (ip->protocol == kIpProtoUdp && ip->header_bytes() + 8 <= ip_len) {
      auto* udp = reinterpret_cast<UdpHeader*>(d + s.ip4_offset + ip->header_bytes());
      udp->length_be = htons(uint16_t(ip_len - ip->header_bytes()));
      udp->checksum = 0;
    }
  }
  return len;
}

struct PgInputTrace {
  uint32_t if_index;
  uint16_t length;
  uint64_t seq;
  char stream[32];
};
std::string format_pg_input(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const PgInputTrace*>(d);
  char b[128];
  snprintf(b, sizeof b, "stream %s, %u bytes, packet %llu, rx interface %u", t->stream, t->length,
           (unsigned long long)t->seq, t->if_index);
  return b;
}

constexpr uint32_t kPgMaxPerCall = 16 * kFrameSize;

template <bool Trace>
uint32_t pg_input(Worker& w, NodeRuntime& node, const uint32_t*, uint32_t) {
  uint32_t produced = 0;
  uint32_t bi[kFrameSize];
  for (const RxQueueRef& q : node.rx_queues) {
    auto* pi = static_cast<PgInterface*>(q.ctx);
    const IfRuntime& rt = w.interfaces().entry[pi->if_index];
    if (!rt.admin_up) continue;
    for (PgStream* s : pi->streams) {
      if (!s->enabled.load(std::memory_order_relaxed)) continue;
      uint32_t n = kFrameSize;
      const uint64_t sent = s->sent.load(std::memory_order_relaxed);
      if (s->limit) {
        if (sent >= s->limit) {
          s->enabled.store(false, std::memory_order_relaxed);
          continue;
        }
        if (s->limit - sent < n) n = uint32_t(s->limit - sent);
      }
      if (s->rate_pps > 0) {
        const uint64_t now = w.now_tsc();
        if (s->last_tsc == 0) s->last_tsc = now;
        s->tokens += double(now - s->last_tsc) * s->rate_pps / tsc_hz();
        if (s->tokens > kFrameSize) s->tokens = kFrameSize;
        s->last_tsc = now;
        if (s->tokens < 1) {
          w.wake_by(now + uint64_t((1 - s->tokens) * tsc_hz() / s->rate_pps) + 1);
          continue;
        }
        if (uint32_t(s->tokens) < n) n = uint32_t(s->tokens);
      }
      const uint32_t got = w.alloc(bi, n);
      if (got < n) w.count_if(pi->if_index, kIfRxNoBuffer, n - got);
      if (!got) {
        w.count_error(node, kPgNoBuffer, n);
        continue;
      }
      uint64_t bytes = 0;
      for (uint32_t i = 0; i < got; ++i) {
        Buffer* b = w.buffer(bi[i]);
        b->reset();
        b->rx_if = pi->if_index;
        bytes += pg_fill(*s, b, s->seq++);
      }
      s->sent.store(sent + got, std::memory_order_relaxed);
      if (s->rate_pps > 0) s->tokens -= got;
      w.count_rx(pi->if_index, got, bytes);
      w.capture(pi->if_index, false, bi, got);
      if constexpr (Trace) {
        w.trace_input(node, bi, got);
        for (uint32_t i = 0; i < got; ++i) {
          Buffer* b = w.buffer(bi[i]);
          PgInputTrace t{pi->if_index, b->length, s->seq - got + i, {}};
          snprintf(t.stream, sizeof t.stream, "%s", s->name.c_str());
          w.trace(node, b, &t, sizeof t);
        }
      }
      w.enqueue(node, uint32_t(PgNext::EthernetInput), bi, got);
      produced += got;
      // Up to a frame from every enabled stream per call, so streams share the worker fairly
      // (returning after the first full frame starved every stream behind an unlimited one);
      // the cap keeps the next node's pending queue from overflowing.
      if (produced >= kPgMaxPerCall) return produced;
    }
  }
  return produced;
}

QUIVER_NODE(pg_input, {
  .name = "pg-input",
  .type = NodeType::Input,
  QUIVER_DISPATCH(pg_input),
  .next_nodes = {"ethernet-input"},
  .errors = {{"no-buffer", "buffer pool exhausted", Severity::Error}},
  .format_trace = format_pg_input,
});

struct PgOutputTrace {
  uint32_t if_index;
  uint16_t length;
  uint8_t head[32];
};
std::string format_pg_output(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const PgOutputTrace*>(d);
  std::string s = "tx interface " + std::to_string(t->if_index) + ", " + std::to_string(t->length) + " bytes\n    ";
  char h[4];
  for (int i = 0; i < 32 && i < t->length; ++i) {
    snprintf(h, sizeof h, "%02x", t->head[i]);
    s += h;
  }
  return s;
}

// Counts and frees; packets of one interface arrive in runs, handled a run at a time.
template <bool Trace>
uint32_t pg_output(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  uint32_t start = 0;
  while (start < n) {
    const uint32_t tx = w.buffer(bi[start])->tx_if;
    uint32_t end = start;
    uint64_t bytes = 0;
    while (end < n) {
      Buffer* b = w.buffer(bi[end]);
      if (b->tx_if != tx) break;
      bytes += b->total_length();
      if constexpr (Trace) {
        PgOutputTrace t{tx, b->length, {}};
        std::memcpy(t.head, b->data(), b->length < 32 ? b->length : 32);
        w.trace(node, b, &t, sizeof t);
      }
      ++end;
    }
    w.count_tx(tx, end - start, bytes);
    w.capture(tx, true, bi + start, end - start);
    PgInterface* pi = g_pg_interfaces[tx];
    if (pi && __builtin_expect(pi->capture_max.load(std::memory_order_relaxed) != 0, 0)) {
      std::lock_guard<std::mutex> g(pi->capture_lock);
      for (uint32_t i = start; i < end; ++i) {
        pi->captured_total.fetch_add(1, std::memory_order_relaxed);
        if (pi->captured.size() >= pi->capture_max) continue;
        Buffer* b = w.buffer(bi[i]);
        std::vector<uint8_t> pkt(b->data(), b->data() + b->length);
        for (Buffer* c = b; c->flags & kBufNextPresent;) {
          c = w.buffer(c->next_buffer);
          pkt.insert(pkt.end(), c->data(), c->data() + c->length);
        }
        pi->captured.push_back(std::move(pkt));
      }
    }
    start = end;
  }
  w.free(bi, n);
  return n;
}

QUIVER_NODE(pg_output, {
  .name = "pg-output",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(pg_output),
  .next_nodes = {},
  .errors = {},
  .format_trace = format_pg_output,
});
QUIVER_ARC(pg_output, "interface-output", "pg-output");

}  // namespace
}  // namespace quiver
