#include "napi.h"

#include <cstdio>
#include <mutex>
#include <stdexcept>

#include "../engine.h"

namespace quiver {

std::vector<NapiExport>& napi_registry() {
  static std::vector<NapiExport> r;
  return r;
}

Napi::Value napi_guard(const Napi::CallbackInfo& info, Napi::Value (*body)(const Napi::CallbackInfo&)) {
  Napi::Env env = info.Env();
  try {
    std::lock_guard<std::recursive_mutex> g(Engine::get().control_lock());
    return body(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

std::string arg_string(const Napi::CallbackInfo& info, size_t i, const char* field) {
  if (info.Length() <= i || !info[i].IsString()) throw std::runtime_error(std::string(field) + ": must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}
uint32_t arg_u32(const Napi::CallbackInfo& info, size_t i, const char* field) {
  if (info.Length() <= i || !info[i].IsNumber()) throw std::runtime_error(std::string(field) + ": must be a number");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (d < 0 || d > 4294967295.0 || d != double(uint64_t(d))) throw std::runtime_error(std::string(field) + ": must be an unsigned 32-bit integer");
  return uint32_t(d);
}
Napi::Object arg_object(const Napi::CallbackInfo& info, size_t i, const char* field) {
  if (info.Length() <= i || !info[i].IsObject()) throw std::runtime_error(std::string(field) + ": must be an object");
  return info[i].As<Napi::Object>();
}
bool opt_bool(const Napi::Object& o, const char* key, bool def) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return def;
  if (!o.Get(key).IsBoolean()) throw std::runtime_error(std::string(key) + ": must be a boolean");
  return o.Get(key).As<Napi::Boolean>().Value();
}
double opt_number(const Napi::Object& o, const char* key, double def) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return def;
  if (!o.Get(key).IsNumber()) throw std::runtime_error(std::string(key) + ": must be a number");
  return o.Get(key).As<Napi::Number>().DoubleValue();
}
uint32_t opt_u32(const Napi::Object& o, const char* key, uint32_t def) {
  double d = opt_number(o, key, def);
  if (d < 0 || d > 4294967295.0 || d != double(uint64_t(d))) throw std::runtime_error(std::string(key) + ": must be an unsigned 32-bit integer");
  return uint32_t(d);
}
std::string opt_string(const Napi::Object& o, const char* key, const std::string& def) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return def;
  if (!o.Get(key).IsString()) throw std::runtime_error(std::string(key) + ": must be a string");
  return o.Get(key).As<Napi::String>().Utf8Value();
}
void parse_mac(const std::string& s, uint8_t* out, const char* field) {
  unsigned v[6];
  char tail;
  if (sscanf(s.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
    throw std::runtime_error(std::string(field) + ": '" + s + "' is not a MAC address (aa:bb:cc:dd:ee:ff)");
  for (int i = 0; i < 6; ++i) out[i] = uint8_t(v[i]);
}
Interface& interface_arg(const Napi::Value& v, const char* field) {
  Engine& e = Engine::get();
  if (!e.running()) throw std::runtime_error("engine: not running");
  Interface* i = nullptr;
  if (v.IsString()) i = e.find_interface(v.As<Napi::String>().Utf8Value());
  else if (v.IsNumber()) i = e.interface(v.As<Napi::Number>().Uint32Value());
  else throw std::runtime_error(std::string(field) + ": must be an interface name or index");
  if (!i) throw std::runtime_error(std::string(field) + ": no interface " + (v.IsString() ? "'" + v.As<Napi::String>().Utf8Value() + "'" : std::to_string(v.As<Napi::Number>().Uint32Value())));
  return *i;
}

}  // namespace quiver

static Napi::Object init_module(Napi::Env env, Napi::Object exports) {
  for (const auto& e : quiver::napi_registry()) exports.Set(e.name, Napi::Function::New(env, e.fn, e.name));
  return exports;
}
NODE_API_MODULE(quiver, init_module)
