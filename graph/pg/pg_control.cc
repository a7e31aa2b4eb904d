// Control side of pg: interfaces, streams (pcap replay or a synthesized Ethernet/IPv4/UDP
// template with incrementing fields), and the test capture of what pg interfaces transmit.
#include <arpa/inet.h>

#include <memory>
#include <stdexcept>

#include "../../native/engine.h"
#include "../../native/headers/ethernet.h"
#include "../../native/headers/ip.h"
#include "../../native/json.h"
#include "../../native/napi/napi.h"
#include "pg.h"

namespace quiver {

extern PgInterface* g_pg_interfaces[kMaxInterfaces];

namespace {

class PgOps : public InterfaceOps {
 public:
  explicit PgOps(PgInterface* pi) : pi_(pi) {}
  const char* driver() const override { return "pg"; }
  void destroy(Interface& intf) override {
    g_pg_interfaces[intf.index] = nullptr;
    for (PgStream* s : pi_->streams) delete s;
    delete pi_;
  }
  std::string details_json(const Interface&) override {
    std::string j = "{\"streams\":[";
    for (size_t i = 0; i < pi_->streams.size(); ++i) {
      const PgStream* s = pi_->streams[i];
      if (i) j += ",";
      j += "{\"name\":" + json_str(s->name) + ",\"enabled\":" + (s->enabled ? "true" : "false") + ",\"sent\":" +
           std::to_string(s->sent.load()) + ",\"limit\":" + std::to_string(s->limit) + "}";
    }
    return j + "]}";
  }
  PgInterface* pi_;
};

PgInterface& pg_of(Interface& intf) {
  if (std::string(intf.ops->driver()) != "pg") throw std::runtime_error("interface: '" + intf.name + "' is not a pg interface");
  return *static_cast<PgOps*>(intf.ops.get())->pi_;
}

Worker& owner(Interface& intf) { return *Engine::get().workers()[intf.rx_queues.at(0).worker]; }

PgStream* find_stream(const std::string& name, Interface** intf_out) {
  for (Interface* i : Engine::get().interfaces()) {
    if (std::string(i->ops->driver()) != "pg") continue;
    for (PgStream* s : pg_of(*i).streams)
      if (s->name == name) {
        if (intf_out) *intf_out = i;
        return s;
      }
  }
  return nullptr;
}

uint32_t parse_ip4(const std::string& s, const char* field) {
  in_addr a;
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) throw std::runtime_error(std::string(field) + ": '" + s + "' is not an IPv4 address");
  return ntohl(a.s_addr);
}

// Ethernet/IPv4/UDP frame of `size` bytes (without FCS).
std::vector<uint8_t> build_udp(const Napi::Object& t, uint16_t size, int32_t* ip4_offset) {
  std::vector<uint8_t> f(size, 0);
  uint8_t src[6], dst[6];
  parse_mac(opt_string(t, "srcMac", "02:00:00:00:00:01"), src, "template.srcMac");
  parse_mac(opt_string(t, "dstMac", "02:00:00:00:00:02"), dst, "template.dstMac");
  auto* eth = reinterpret_cast<EthernetHeader*>(f.data());
  std::memcpy(eth->dst, dst, 6);
  std::memcpy(eth->src, src, 6);
  uint32_t off = 14;
  const uint32_t vlan = opt_u32(t, "vlan", 0);
  if (vlan > 4095) throw std::runtime_error("template.vlan: must be 0..4095");
  if (vlan) {
    eth->type_be = htons(kEtherTypeVlan);
    f[14] = uint8_t(vlan >> 8);
    f[15] = uint8_t(vlan);
    f[16] = 0x08;
    f[17] = 0x00;
    off = 18;
  } else {
    eth->type_be = htons(kEtherTypeIp4);
  }
  if (size < off + 28) throw std::runtime_error("size: " + std::to_string(size) + " is too small for Ethernet/IPv4/UDP");
  auto* ip = reinterpret_cast<Ip4Header*>(f.data() + off);
  ip->version_ihl = 0x45;
  ip->total_length_be = htons(uint16_t(size - off));
  ip->ttl = uint8_t(opt_u32(t, "ttl", 64));
  ip->protocol = kIpProtoUdp;
  ip->src = htonl(parse_ip4(opt_string(t, "srcIp", "198.18.0.1"), "template.srcIp"));
  ip->dst = htonl(parse_ip4(opt_string(t, "dstIp", "198.19.0.1"), "template.dstIp"));
  ip->set_checksum();
  auto* udp = reinterpret_cast<UdpHeader*>(f.data() + off + 20);
  const uint32_t sport = opt_u32(t, "srcPort", 1024), dport = opt_u32(t, "dstPort", 1024);
  if (sport > 65535) throw std::runtime_error("template.srcPort: must be 0..65535");
  if (dport > 65535) throw std::runtime_error("template.dstPort: must be 0..65535");
  udp->src_port_be = htons(uint16_t(sport));
  udp->dst_port_be = htons(uint16_t(dport));
  udp->length_be = htons(uint16_t(size - off - 20));
  for (uint32_t i = off + 28; i < size; ++i) f[i] = uint8_t(i);  // recognisable payload
  *ip4_offset = int32_t(off);
  return f;
}

}  // namespace

QUIVER_NAPI(pgCreate) {
  Napi::Object o = arg_object(info, 0, "pg");
  Engine& e = Engine::get();
  const std::string name = opt_string(o, "name", "");
  uint8_t mac[6] = {0x02, 0xfe, 0, 0, 0, 0};
  if (o.Has("mac") && !o.Get("mac").IsUndefined()) parse_mac(opt_string(o, "mac", ""), mac, "mac");
  const uint32_t mtu = opt_u32(o, "mtu", 9000);
  const int worker = o.Has("worker") && !o.Get("worker").IsUndefined() ? int(opt_u32(o, "worker", 0)) : -1;
  if (worker >= int(e.workers().size())) throw std::runtime_error("worker: " + std::to_string(worker) + " does not exist");
  auto* pi = new PgInterface();
  Interface* intf;
  try {
    intf = &e.create_interface(name, "pg-output", std::make_unique<PgOps>(pi), mac, mtu);
  } catch (...) {
    delete pi;
    throw;
  }
  if (!(o.Has("mac") && !o.Get("mac").IsUndefined())) {
    mac[4] = uint8_t(intf->index >> 8);
    mac[5] = uint8_t(intf->index);
    e.set_mac(*intf, mac);
  }
  pi->if_index = intf->index;
  g_pg_interfaces[intf->index] = pi;
  // pg has no interrupt source: its queue is polled while a stream is enabled, and the
  // worker still sleeps when every stream is idle (pg-input then produces nothing).
  e.add_rx_queue(*intf, 0, "pg-input", pi, -1, worker, int(RxMode::Adaptive));
  return Napi::Number::New(info.Env(), intf->index);
}

QUIVER_NAPI(pgStream) {
  Interface& intf = interface_arg(info[0], "interface");
  PgInterface& pi = pg_of(intf);
  Napi::Object o = arg_object(info, 1, "stream");
  auto s = std::make_unique<PgStream>();
  s->name = opt_string(o, "name", "");
  if (s->name.empty()) throw std::runtime_error("name: a stream needs a name");
  if (find_stream(s->name, nullptr)) throw std::runtime_error("name: stream '" + s->name + "' already exists");
  s->if_index = intf.index;
  const double limit = opt_number(o, "count", 0);
  if (limit < 0 || limit != double(uint64_t(limit))) throw std::runtime_error("count: must be a whole number >= 0");
  s->limit = uint64_t(limit);
  s->rate_pps = opt_number(o, "rate", 0);
  if (s->rate_pps < 0) throw std::runtime_error("rate: must be >= 0 packets per second");
  const uint32_t smin = opt_u32(o, "sizeMin", 0), smax = opt_u32(o, "sizeMax", 0);
  if (smin > kDataSize || smax > kDataSize) throw std::runtime_error("size: at most " + std::to_string(kDataSize) + " bytes");
  if (smin > smax) throw std::runtime_error("size: minimum " + std::to_string(smin) + " exceeds maximum " + std::to_string(smax));
  if (o.Has("packets") && !o.Get("packets").IsUndefined()) {
    if (!o.Get("packets").IsArray()) throw std::runtime_error("packets: must be an array of Buffers");
    Napi::Array a = o.Get("packets").As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      if (!a.Get(i).IsBuffer()) throw std::runtime_error("packets[" + std::to_string(i) + "]: must be a Buffer");
      auto b = a.Get(i).As<Napi::Buffer<uint8_t>>();
      if (b.Length() < 1 || b.Length() > kDataSize)
        throw std::runtime_error("packets[" + std::to_string(i) + "]: length " + std::to_string(b.Length()) + " is outside 1.." + std::to_string(kDataSize));
      s->packets.emplace_back(b.Data(), b.Data() + b.Length());
    }
  } else if (o.Has("pcap") && !o.Get("pcap").IsUndefined()) {
    const std::string file = opt_string(o, "pcap", "");
    for (auto& p : read_pcap(file)) {
      if (p.size() < 14 || p.size() > kDataSize) continue;
      s->packets.push_back(std::move(p));
    }
    if (s->packets.empty()) throw std::runtime_error("pcap: '" + file + "' holds no usable Ethernet frames");
  } else {
    Napi::Object t = o.Has("template") && o.Get("template").IsObject() ? o.Get("template").As<Napi::Object>() : Napi::Object::New(info.Env());
    const uint32_t size = opt_u32(o, "size", smax ? smax : 64);
    if (size < 42 || size > kDataSize) throw std::runtime_error("size: " + std::to_string(size) + " is outside 42.." + std::to_string(kDataSize));
    s->packets.push_back(build_udp(t, uint16_t(smax ? smax : size), &s->ip4_offset));
    if (smax) {
      s->size_min = uint16_t(smin ? smin : smax);
      s->size_max = uint16_t(smax);
      if (s->size_min < 14 + 28 + (s->ip4_offset > 14 ? 4 : 0)) throw std::runtime_error("sizeMin: too small for Ethernet/IPv4/UDP");
    }
    if (o.Has("fields") && o.Get("fields").IsArray()) {
      Napi::Array a = o.Get("fields").As<Napi::Array>();
      const uint32_t l3 = uint32_t(s->ip4_offset);
      for (uint32_t i = 0; i < a.Length(); ++i) {
        const std::string at = "fields[" + std::to_string(i) + "]";
        if (!a.Get(i).IsObject()) throw std::runtime_error(at + ": must be an object");
        Napi::Object fo = a.Get(i).As<Napi::Object>();
        PgField f;
        const std::string field = opt_string(fo, "field", "");
        if (field == "src-ip") { f.offset = uint16_t(l3 + 12); f.width = 4; f.start = parse_ip4(opt_string(t, "srcIp", "198.18.0.1"), "template.srcIp"); }
        else if (field == "dst-ip") { f.offset = uint16_t(l3 + 16); f.width = 4; f.start = parse_ip4(opt_string(t, "dstIp", "198.19.0.1"), "template.dstIp"); }
        else if (field == "src-port") { f.offset = uint16_t(l3 + 20); f.width = 2; f.start = opt_u32(t, "srcPort", 1024); }
        else if (field == "dst-port") { f.offset = uint16_t(l3 + 22); f.width = 2; f.start = opt_u32(t, "dstPort", 1024); }
        else if (field == "offset") {
          f.offset = uint16_t(opt_u32(fo, "offset", 0));
          f.width = uint8_t(opt_u32(fo, "width", 4));
          if (f.width != 1 && f.width != 2 && f.width != 4) throw std::runtime_error(at + ".width: must be 1, 2 or 4");
          f.start = opt_u32(fo, "start", 0);
        } else throw std::runtime_error(at + ".field: '" + field + "' is not src-ip, dst-ip, src-port, dst-port or offset");
        if (fo.Has("start") && !fo.Get("start").IsUndefined()) f.start = opt_u32(fo, "start", f.start);
        f.step = opt_u32(fo, "step", 1);
        f.count = opt_u32(fo, "count", 1);
        if (f.count == 0) throw std::runtime_error(at + ".count: must be at least 1");
        f.random = opt_bool(fo, "random", false);
        s->fields.push_back(f);
      }
    }
  }
  PgStream* raw = s.release();
  const bool enable = opt_bool(o, "enabled", false);
  raw->enabled.store(enable);
  owner(intf).run_sync([&pi, raw](Worker&) { pi.streams.push_back(raw); });
  owner(intf).kick();
  return info.Env().Undefined();
}

QUIVER_NAPI(pgStreamEnable) {
  const std::string name = arg_string(info, 0, "stream");
  const bool on = info.Length() < 2 || info[1].ToBoolean().Value();
  Interface* intf = nullptr;
  PgStream* s = find_stream(name, &intf);
  if (!s) throw std::runtime_error("stream: no stream '" + name + "'");
  if (on) {
    owner(*intf).run_sync([s](Worker&) {
      s->sent.store(0);
      s->seq = 0;
      s->tokens = 0;
      s->last_tsc = 0;
    });
  }
  s->enabled.store(on);
  owner(*intf).kick();
  return info.Env().Undefined();
}

QUIVER_NAPI(pgStreamStatus) {
  const std::string name = arg_string(info, 0, "stream");
  PgStream* s = find_stream(name, nullptr);
  if (!s) throw std::runtime_error("stream: no stream '" + name + "'");
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("sent", double(s->sent.load()));
  o.Set("enabled", s->enabled.load());
  o.Set("limit", double(s->limit));
  return o;
}

QUIVER_NAPI(pgStreamDelete) {
  const std::string name = arg_string(info, 0, "stream");
  Interface* intf = nullptr;
  PgStream* s = find_stream(name, &intf);
  if (!s) throw std::runtime_error("stream: no stream '" + name + "'");
  PgInterface& pi = pg_of(*intf);
  owner(*intf).run_sync([&pi, s](Worker&) {
    for (size_t i = 0; i < pi.streams.size(); ++i)
      if (pi.streams[i] == s) pi.streams.erase(pi.streams.begin() + long(i));
  });
  delete s;
  return info.Env().Undefined();
}

// Keep up to `max` transmitted packets of a pg interface (0 turns capture off and clears).
QUIVER_NAPI(pgCapture) {
  Interface& intf = interface_arg(info[0], "interface");
  PgInterface& pi = pg_of(intf);
  const uint32_t max = arg_u32(info, 1, "max");
  std::lock_guard<std::mutex> g(pi.capture_lock);
  pi.captured.clear();
  pi.captured_total.store(0);
  pi.capture_max.store(max);
  return info.Env().Undefined();
}

QUIVER_NAPI(pgCaptured) {
  Interface& intf = interface_arg(info[0], "interface");
  PgInterface& pi = pg_of(intf);
  std::lock_guard<std::mutex> g(pi.capture_lock);
  Napi::Array a = Napi::Array::New(info.Env(), pi.captured.size());
  for (size_t i = 0; i < pi.captured.size(); ++i)
    a.Set(uint32_t(i), Napi::Buffer<uint8_t>::Copy(info.Env(), pi.captured[i].data(), pi.captured[i].size()));
  return a;
}

QUIVER_NAPI(pgCaptureWrite) {
  Interface& intf = interface_arg(info[0], "interface");
  PgInterface& pi = pg_of(intf);
  const std::string file = arg_string(info, 1, "file");
  std::vector<CapturedPacket> pk;
  {
    std::lock_guard<std::mutex> g(pi.capture_lock);
    for (auto& p : pi.captured) pk.push_back(CapturedPacket{0, intf.index, 1, uint32_t(p.size()), p});
  }
  write_pcap(file, pk);
  return Napi::Number::New(info.Env(), double(pk.size()));
}

}  // namespace quiver
