// N-API exports register themselves like nodes do, so a feature adds its JavaScript entry
// points in its own folder. Every export runs under the engine's control lock and turns
// std::exception into a JavaScript Error carrying the message (which names the field).
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace quiver {

using NapiFn = Napi::Value (*)(const Napi::CallbackInfo&);
struct NapiExport {
  const char* name;
  NapiFn fn;
};
std::vector<NapiExport>& napi_registry();
struct NapiRegistrar {
  NapiRegistrar(const char* name, NapiFn fn) { napi_registry().push_back({name, fn}); }
};
Napi::Value napi_guard(const Napi::CallbackInfo& info, Napi::Value (*body)(const Napi::CallbackInfo&));

#define QUIVER_NAPI(name)                                                                           \
  static Napi::Value napi_body_##name(const Napi::CallbackInfo& info);                              \
  static Napi::Value napi_entry_##name(const Napi::CallbackInfo& info) { return ::quiver::napi_guard(info, napi_body_##name); } \
  static ::quiver::NapiRegistrar napi_registrar_##name(#name, napi_entry_##name);                   \
  static Napi::Value napi_body_##name(const Napi::CallbackInfo& info)

// Argument helpers: the TypeScript layer validates first; these still refuse bad input with
// the field named, because the addon is also reachable directly.
std::string arg_string(const Napi::CallbackInfo& info, size_t i, const char* field);
uint32_t arg_u32(const Napi::CallbackInfo& info, size_t i, const char* field);
Napi::Object arg_object(const Napi::CallbackInfo& info, size_t i, const char* field);
bool opt_bool(const Napi::Object& o, const char* key, bool def);
uint32_t opt_u32(const Napi::Object& o, const char* key, uint32_t def);
double opt_number(const Napi::Object& o, const char* key, double def);
std::string opt_string(const Napi::Object& o, const char* key, const std::string& def);
// Parses "aa:bb:cc:dd:ee:ff"; throws naming field.
void parse_mac(const std::string& s, uint8_t* out, const char* field);
class Interface;
// Looks an interface up by name or index; throws naming `field`.
Interface& interface_arg(const Napi::Value& v, const char* field);

}  // namespace quiver
