// JavaScript entry points of the engine core: lifecycle, stats segment, interfaces common to
// every driver, rx placement, trace, pcap, clear, buffers.
#include <unistd.h>

#include <algorithm>
#include <map>
#include <stdexcept>

#include "../clock.h"
#include "../engine.h"
#include "../json.h"
#include "napi.h"

namespace quiver {
namespace {

Napi::Value json_value(Napi::Env env, const std::string& text) {
  Napi::Object JSON = env.Global().Get("JSON").As<Napi::Object>();
  return JSON.Get("parse").As<Napi::Function>().Call(JSON, {Napi::String::New(env, text)});
}

}  // namespace

QUIVER_NAPI(start) {
  Napi::Object o = arg_object(info, 0, "config");
  EngineConfig c;
  c.workers = opt_u32(o, "workers", 1);
  if (o.Has("cores") && !o.Get("cores").IsUndefined()) {
    if (!o.Get("cores").IsArray()) throw std::runtime_error("workers.cores: must be an array of core numbers");
    Napi::Array a = o.Get("cores").As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) c.cores.push_back(a.Get(i).As<Napi::Number>().Int32Value());
  }
  c.pool.buffers = opt_u32(o, "buffers", 16384);
  c.pool.hugepages = opt_string(o, "hugepages", "auto");
  if (c.pool.hugepages != "auto" && c.pool.hugepages != "on" && c.pool.hugepages != "off")
    throw std::runtime_error("buffers.hugepages: must be auto, on or off");
  std::string mode = opt_string(o, "rxMode", "adaptive");
  if (!parse_rx_mode(mode, &c.default_rx_mode)) throw std::runtime_error("workers.rxMode: must be polling, interrupt or adaptive");
  c.adaptive_idle_loops = opt_u32(o, "adaptiveIdleLoops", 64);
  Engine::get().start(c);
  return info.Env().Undefined();
}

QUIVER_NAPI(stop) {
  Engine::get().stop();
  return info.Env().Undefined();
}

QUIVER_NAPI(running) { return Napi::Boolean::New(info.Env(), Engine::get().running()); }

// The stats segment as an ArrayBuffer over the shared mapping (no copy, no call into workers).
QUIVER_NAPI(statsSegment) {
  Engine& e = Engine::get();
  if (!e.running()) throw std::runtime_error("engine: not running");
  StatsSegment& s = e.stats();
  return Napi::ArrayBuffer::New(info.Env(), s.base(), s.size(), [](Napi::Env, void*) {});
}

QUIVER_NAPI(statsFd) {
  Engine& e = Engine::get();
  if (!e.running()) throw std::runtime_error("engine: not running");
  return Napi::Number::New(info.Env(), e.stats().fd());
}

QUIVER_NAPI(workers) {
  Engine& e = Engine::get();
  Napi::Array a = Napi::Array::New(info.Env());
  uint32_t i = 0;
  for (auto& w : e.workers()) {
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("id", w->id());
    o.Set("cpu", w->cpu());
    o.Set("tid", w->tid());
    a.Set(i++, o);
  }
  return a;
}

QUIVER_NAPI(version) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("addon", QUIVER_VERSION);
#ifdef QUIVER_HAVE_DPDK
  o.Set("dpdk", QUIVER_DPDK_VERSION);
#else
  o.Set("dpdk", info.Env().Null());
#endif
  o.Set("compiler", __VERSION__);
  o.Set("tscHz", tsc_hz());
  o.Set("slotSize", kSlotSize);
  o.Set("dataOffset", kDataOffset);
  return o;
}

QUIVER_NAPI(interfaces) {
  Engine& e = Engine::get();
  std::string j = "[";
  bool first = true;
  if (e.running()) {
    for (Interface* i : e.interfaces()) {
      if (!first) j += ",";
      first = false;
      const IfRuntime& rt = e.runtime_table().entry[i->index];
      std::string mode = rt.mode == IfMode::L3 ? "l3" : rt.mode == IfMode::XConnect ? "xconnect" : "bridge";
      j += "{\"index\":" + std::to_string(i->index) + ",\"name\":" + json_str(i->name) + ",\"driver\":" +
           json_str(i->ops->driver()) + ",\"adminUp\":" + (i->admin_up ? "true" : "false") + ",\"linkUp\":" +
           (i->link_up ? "true" : "false") + ",\"mtu\":" + std::to_string(i->mtu) + ",\"mac\":" + json_str(mac_str(i->mac)) +
           ",\"mode\":\"" + mode + "\"" + ",\"xconnectPeer\":" +
           (rt.mode == IfMode::XConnect ? std::to_string(rt.xconnect_peer) : "null") + ",\"linkChanges\":" +
           std::to_string(i->link_changes) + ",\"rxQueues\":[";
      for (size_t q = 0; q < i->rx_queues.size(); ++q) {
        const auto& rq = i->rx_queues[q];
        if (q) j += ",";
        j += "{\"queue\":" + std::to_string(rq.queue_id) + ",\"worker\":" + std::to_string(rq.worker) + ",\"mode\":\"" +
             rx_mode_name(rq.mode) + "\",\"interruptFd\":" + (rq.fd >= 0 ? "true" : "false") + "}";
      }
      j += "],\"details\":" + i->ops->details_json(*i) + "}";
    }
  }
  j += "]";
  return json_value(info.Env(), j);
}

QUIVER_NAPI(setInterfaceState) {
  Interface& i = interface_arg(info[0], "interface");
  Napi::Object o = arg_object(info, 1, "state");
  Engine& e = Engine::get();
  // Validate everything first: a change applies whole or not at all.
  uint8_t mac[6];
  const bool has_mac = o.Has("mac") && !o.Get("mac").IsUndefined();
  if (has_mac) {
    parse_mac(opt_string(o, "mac", ""), mac, "mac");
    if (mac[0] & 1) throw std::runtime_error("mac: " + mac_str(mac) + " is a multicast address");
  }
  const bool has_mtu = o.Has("mtu") && !o.Get("mtu").IsUndefined();
  const uint32_t mtu = opt_u32(o, "mtu", i.mtu);
  if (has_mtu && (mtu < 68 || mtu > 9216)) throw std::runtime_error("mtu: " + std::to_string(mtu) + " is outside 68..9216");
  if (has_mtu) e.set_mtu(i, mtu);
  if (has_mac) e.set_mac(i, mac);
  if (o.Has("adminUp") && !o.Get("adminUp").IsUndefined()) e.set_admin(i, opt_bool(o, "adminUp", false));
  return info.Env().Undefined();
}

QUIVER_NAPI(deleteInterface) {
  Interface& i = interface_arg(info[0], "interface");
  Engine::get().delete_interface(i.index);
  return info.Env().Undefined();
}

QUIVER_NAPI(setRxPlacement) {
  Interface& i = interface_arg(info[0], "interface");
  uint32_t q = arg_u32(info, 1, "queue");
  uint32_t w = arg_u32(info, 2, "worker");
  Engine::get().set_rx_placement(i, q, w);
  return info.Env().Undefined();
}

QUIVER_NAPI(setRxMode) {
  Interface& i = interface_arg(info[0], "interface");
  std::string mode = arg_string(info, 2, "mode");
  RxMode m;
  if (!parse_rx_mode(mode, &m)) throw std::runtime_error("mode: '" + mode + "' is not polling, interrupt or adaptive");
  if (info[1].IsString() && info[1].As<Napi::String>().Utf8Value() == "all") {
    for (auto& q : i.rx_queues) Engine::get().set_rx_mode(i, q.queue_id, m);
  } else {
    Engine::get().set_rx_mode(i, arg_u32(info, 1, "queue"), m);
  }
  return info.Env().Undefined();
}

// --- trace ---
QUIVER_NAPI(traceAdd) {
  Engine& e = Engine::get();
  std::string node = arg_string(info, 0, "node");
  uint32_t n = arg_u32(info, 1, "count");
  const NodeInfo* ni = e.graph().find(node);
  if (!ni) throw std::runtime_error("node: no node '" + node + "'");
  if (ni->reg->type != NodeType::Input) throw std::runtime_error("node: '" + node + "' is not an input node");
  for (auto& w : e.workers()) w->set_trace_budget(ni->index, n);
  return info.Env().Undefined();
}

QUIVER_NAPI(traceClear) {
  for (auto& w : Engine::get().workers()) w->clear_trace();
  return info.Env().Undefined();
}

QUIVER_NAPI(traceGet) {
  Engine& e = Engine::get();
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  uint32_t k = 0;
  const double hz = tsc_hz();
  for (auto& w : e.workers()) {
    auto records = w->trace_snapshot();
    for (size_t r = 0; r < records.size(); ++r) {
      Napi::Object rec = Napi::Object::New(env);
      rec.Set("worker", w->id());
      rec.Set("packet", uint32_t(r + 1));
      Napi::Array entries = Napi::Array::New(env);
      for (size_t i = 0; i < records[r].entries.size(); ++i) {
        const auto& en = records[r].entries[i];
        const NodeInfo& ni = e.graph().nodes()[en.node];
        Napi::Object eo = Napi::Object::New(env);
        eo.Set("node", ni.name);
        eo.Set("seconds", double(en.tsc) / hz);
        eo.Set("text", ni.reg->format_trace ? ni.reg->format_trace(en.data.data(), uint32_t(en.data.size())) : std::string());
        entries.Set(uint32_t(i), eo);
      }
      rec.Set("entries", entries);
      out.Set(k++, rec);
    }
  }
  return out;
}

// --- pcap ---
QUIVER_NAPI(pcapStart) {
  Napi::Object o = arg_object(info, 0, "pcap");
  CaptureConfig c;
  c.rx = opt_bool(o, "rx", true);
  c.tx = opt_bool(o, "tx", true);
  if (!c.rx && !c.tx) throw std::runtime_error("direction: at least one of rx and tx");
  c.max_packets = opt_u32(o, "max", 100);
  c.snaplen = opt_u32(o, "snaplen", 9216);
  c.file = opt_string(o, "file", "");
  if (o.Has("interface") && !o.Get("interface").IsUndefined() && !o.Get("interface").IsNull())
    c.if_index = interface_arg(o.Get("interface"), "interface").index;
  Engine::get().capture_start(c);
  return info.Env().Undefined();
}

QUIVER_NAPI(pcapStop) {
  Engine& e = Engine::get();
  const std::string file = e.capture().config().file;
  uint32_t n = e.capture_stop();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("file", file);
  o.Set("packets", n);
  return o;
}

QUIVER_NAPI(pcapStatus) {
  Engine& e = Engine::get();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("active", e.capture().active());
  o.Set("file", e.capture().config().file);
  o.Set("captured", std::min(e.capture().count(), e.capture().config().max_packets));
  o.Set("max", e.capture().config().max_packets);
  return o;
}

// --- counters ---
QUIVER_NAPI(clearRuntime) {
  Engine::get().stats().clear_nodes();
  return info.Env().Undefined();
}
QUIVER_NAPI(clearInterfaces) {
  Engine::get().stats().clear_interfaces();
  return info.Env().Undefined();
}
QUIVER_NAPI(clearErrors) {
  Engine::get().stats().clear_errors();
  return info.Env().Undefined();
}

QUIVER_NAPI(buffers) {
  Engine& e = Engine::get();
  if (!e.running()) throw std::runtime_error("engine: not running");
  const bool drain = info.Length() > 0 && info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value();
  if (drain) e.drain_caches();
  e.update_buffer_counters();
  uint64_t cached = e.control_cache().count;
  Napi::Array per = Napi::Array::New(info.Env());
  for (auto& w : e.workers()) {
    uint64_t c = e.stats().buffer_counters()[kBufferCounters + w->id()];
    per.Set(w->id(), Napi::Number::New(info.Env(), double(c)));
    cached += c;
  }
  BufferPool& p = e.pool();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("total", p.total());
  o.Set("free", p.free_count());
  o.Set("cached", double(cached));
  o.Set("cachedPerWorker", per);
  o.Set("held", double(p.held()));
  o.Set("inFlight", double(int64_t(p.total()) - int64_t(p.free_count()) - int64_t(cached) - p.held()));
  o.Set("allocFailures", double(p.alloc_failures()));
  o.Set("hugepages", p.hugepages());
  o.Set("slotSize", kSlotSize);
  o.Set("bytes", double(p.size_bytes()));
  return o;
}

}  // namespace quiver
