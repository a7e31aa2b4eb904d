// EAL inside the Node process: initialised once per process from the `dpdk:` config, with its
// log captured (a ring the control plane reads, optionally echoed to stderr) so that an EAL
// failure becomes a config error that says why instead of text on the console or an abort.
// Quiver's worker threads become EAL threads (rte_thread_register) when a port is created.
#include "dpdk.h"  // first: it sets the DPDK API level before any rte header

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <deque>
#include <mutex>
#include <stdexcept>

#include "../engine.h"
#include "../json.h"
#include "../napi/napi.h"
#include "../worker.h"

namespace quiver::dpdk {
namespace {

struct LogLine {
  uint64_t seq;
  int level;  // RTE_LOG_*; 0 for text EAL printed directly (usage, getopt)
  std::string text;
};

std::mutex g_log_lock;
std::deque<LogLine> g_log;
std::string g_log_partial;
uint64_t g_log_seq = 0;
int g_log_stderr_fd = -1;  // echo target when enabled (a dup of the real stderr)
constexpr size_t kLogKeep = 2000;

bool g_ready = false;
std::vector<std::string> g_args;            // as given (a repeated init compares these)
std::vector<std::string> g_effective_args;  // what rte_eal_init received
std::string g_last_failure;

void push_line(int level, std::string text) {
  while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.pop_back();
  if (text.empty()) return;
  g_log.push_back({++g_log_seq, level, std::move(text)});
  if (g_log.size() > kLogKeep) g_log.pop_front();
}

ssize_t log_write(void*, const char* buf, size_t size) {
  const int level = rte_log_cur_msg_loglevel();
  std::lock_guard<std::mutex> g(g_log_lock);
  g_log_partial.append(buf, size);
  for (size_t nl; (nl = g_log_partial.find('\n')) != std::string::npos;) {
    push_line(level, g_log_partial.substr(0, nl));
    g_log_partial.erase(0, nl + 1);
  }
  if (g_log_stderr_fd >= 0) {
    ssize_t r = write(g_log_stderr_fd, buf, size);
    (void)r;
  }
  return ssize_t(size);
}

void install_log_stream() {
  static bool done = false;
  if (done) return;
  cookie_io_functions_t io{};
  io.write = log_write;
  FILE* f = fopencookie(nullptr, "w", io);
  if (!f) return;
  setvbuf(f, nullptr, _IOLBF, 0);
  rte_openlog_stream(f);  // set before rte_eal_init: EAL then keeps it instead of syslog+stdout
  done = true;
}

uint64_t log_mark() {
  std::lock_guard<std::mutex> g(g_log_lock);
  return g_log_seq;
}

// Why a call failed: warning and error lines logged since `mark`, plus lines EAL printed
// itself (getopt, option checks) but not its usage screen. EAL's generic "Invalid 'command
// line' arguments" goes when a more specific line says why.
std::string reasons_since(uint64_t mark) {
  std::lock_guard<std::mutex> g(g_log_lock);
  std::vector<std::string> lines;
  bool specific = false;
  for (const auto& l : g_log) {
    if (l.seq <= mark) continue;
    const std::string& t = l.text;
    const bool printed = l.level == 0 && t.find(':') != std::string::npos && t[0] != ' ' && t[0] != '\t' &&
                         t.back() != ':' && t.rfind("Usage:", 0) != 0;
    if (!printed && !(l.level > 0 && l.level <= int(RTE_LOG_WARNING))) continue;
    std::string line = t;
    if (line.rfind("EAL: FATAL: ", 0) == 0) line = "EAL: " + line.substr(12);
    bool dup = false;
    for (const auto& x : lines) dup |= x == line;
    if (dup) continue;
    if (line.find("Invalid 'command line' arguments") == std::string::npos) specific = true;
    lines.push_back(line);
  }
  std::string out;
  for (const auto& x : lines) {
    if (specific && x.find("Invalid 'command line' arguments") != std::string::npos) continue;
    if (!out.empty()) out += "; ";
    out += x;
  }
  return out;
}

// Runs fn with stdout and stderr redirected into a memfd; the text goes to the log ring.
template <class F>
auto capturing_output(F&& fn) {
  fflush(stdout);
  fflush(stderr);
  const int cap = memfd_create("quiver-eal-output", MFD_CLOEXEC);
  const int saved_out = dup(1), saved_err = dup(2);
  if (cap >= 0) {
    dup2(cap, 1);
    dup2(cap, 2);
  }
  auto result = fn();
  fflush(stdout);
  fflush(stderr);
  dup2(saved_out, 1);
  dup2(saved_err, 2);
  close(saved_out);
  close(saved_err);
  if (cap >= 0) {
    std::string text;
    char buf[4096];
    lseek(cap, 0, SEEK_SET);
    for (ssize_t n; (n = read(cap, buf, sizeof buf)) > 0;) text.append(buf, size_t(n));
    close(cap);
    std::lock_guard<std::mutex> g(g_log_lock);
    for (size_t start = 0; start < text.size();) {
      size_t nl = text.find('\n', start);
      if (nl == std::string::npos) nl = text.size();
      push_line(0, text.substr(start, nl - start));
      start = nl + 1;
    }
  }
  return result;
}

// EAL's main lcore (Node's main thread) may run on every CPU this process may use, and its
// control threads inherit the same set: nothing gets pinned behind the operator's back.
std::string allowed_cpus() {
  cpu_set_t set;
  std::string out;
  if (pthread_getaffinity_np(pthread_self(), sizeof set, &set) != 0) return "0";
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) {
      if (!out.empty()) out += ',';
      out += std::to_string(c);
    }
  return out.empty() ? "0" : out;
}

std::string join_args(const std::vector<std::string>& a) {
  std::string s;
  for (const auto& x : a) {
    if (!s.empty()) s += ' ';
    s += x;
  }
  return s;
}

void check_arg(const std::string& a) {
  // These print and exit the process or need another process type: refused up front.
  static const char* refused[] = {"-h", "--help", "--log-level=help", "--proc-type=secondary", "--proc-type=auto"};
  for (const char* r : refused)
    if (a == r) throw std::runtime_error("dpdk.args: '" + a + "' is not allowed in Quiver");
}

}  // namespace

bool eal_ready() { return g_ready; }

std::string recent_log(size_t max_lines) {
  std::lock_guard<std::mutex> g(g_log_lock);
  std::string out;
  const size_t skip = g_log.size() > max_lines ? g_log.size() - max_lines : 0;
  for (size_t i = skip; i < g_log.size(); ++i) out += g_log[i].text + "\n";
  return out;
}

void register_worker_thread(Worker& w) {
  if (rte_lcore_id() == LCORE_ID_ANY && rte_thread_register() != 0)
    RTE_LOG(WARNING, USER1, "quiver: worker %u could not become an EAL thread: %s\n", w.id(), rte_strerror(rte_errno));
  bind_thread_cache(&w.cache());
}

void register_workers(Engine& e) {
  for (auto& w : e.workers()) w->run_sync([](Worker& wk) { register_worker_thread(wk); });
}

void unregister_workers(Engine& e) {
  if (!g_ready) return;
  for (auto& w : e.workers())
    w->run_sync([](Worker&) {
      bind_thread_cache(nullptr);
      if (rte_lcore_id() != LCORE_ID_ANY) rte_thread_unregister();
    });
}

// dpdkInit(args: string[], opts?: {logStderr?: boolean}): rte_eal_init with argv = ["quiver",
// ...args]. Once per process; the same args again is a no-op, different ones an error.
QUIVER_NAPI(dpdkInit) {
  if (info.Length() < 1 || !info[0].IsArray()) throw std::runtime_error("dpdk.args: must be an array of strings");
  Napi::Array arr = info[0].As<Napi::Array>();
  std::vector<std::string> args;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value v = arr.Get(i);
    if (!v.IsString()) throw std::runtime_error("dpdk.args[" + std::to_string(i) + "]: must be a string");
    args.push_back(v.As<Napi::String>().Utf8Value());
    check_arg(args.back());
  }
  bool log_stderr = false;
  if (info.Length() > 1 && info[1].IsObject()) log_stderr = opt_bool(info[1].As<Napi::Object>(), "logStderr", false);
  // EAL keeps what it parsed when it fails (a second attempt trips over its own options):
  // one attempt per process.
  if (!g_last_failure.empty())
    throw std::runtime_error("dpdk: EAL initialisation already failed in this process (" + g_last_failure +
                             "); DPDK cannot retry: restart the process with a corrected dpdk section");
  if (g_ready) {
    if (args == g_args) return Napi::Boolean::New(info.Env(), false);
    throw std::runtime_error("dpdk: EAL is already initialised in this process with '" + join_args(g_args) +
                             "'; DPDK cannot be initialised twice: restart the process to change it");
  }
  install_log_stream();
  {
    std::lock_guard<std::mutex> g(g_log_lock);
    if (log_stderr && g_log_stderr_fd < 0) g_log_stderr_fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
  }
  std::vector<std::string> argv_store = {"quiver"};
  argv_store.insert(argv_store.end(), args.begin(), args.end());
  bool has_lcores = false;
  for (const auto& a : args)
    if (a.rfind("-l", 0) == 0 || a.rfind("-c", 0) == 0 || a.rfind("--lcores", 0) == 0) has_lcores = true;
  if (!has_lcores) argv_store.push_back("--lcores=0@(" + allowed_cpus() + ")");
  std::vector<char*> argv;
  for (auto& s : argv_store) argv.push_back(s.data());
  argv.push_back(nullptr);
  // EAL pins the calling thread to its main lcore; Node's main thread keeps its own affinity.
  cpu_set_t affinity;
  const bool have_affinity = pthread_getaffinity_np(pthread_self(), sizeof affinity, &affinity) == 0;
  const uint64_t mark = log_mark();
  int err = 0;
  const int ret = capturing_output([&] {
    const int r = rte_eal_init(int(argv.size() - 1), argv.data());
    err = rte_errno;
    return r;
  });
  if (have_affinity) pthread_setaffinity_np(pthread_self(), sizeof affinity, &affinity);
  if (ret < 0) {
    const std::string why = reasons_since(mark);
    g_last_failure = why.empty() ? std::string(rte_strerror(err)) : why;
    throw std::runtime_error("dpdk.args: EAL initialisation failed: " + g_last_failure);
  }
  g_ready = true;
  g_args = args;
  g_effective_args.assign(argv_store.begin() + 1, argv_store.end());
  return Napi::Boolean::New(info.Env(), true);
}

// dpdkProbe(devargs, field): hot-plugs a device ("net_null0,size=64", a PCI address).
QUIVER_NAPI(dpdkProbe) {
  const std::string devargs = arg_string(info, 0, "device");
  const std::string field = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "device";
  if (!g_ready) throw std::runtime_error(field + ": EAL is not initialised");
  const uint64_t mark = log_mark();
  const int r = capturing_output([&] { return rte_dev_probe(devargs.c_str()); });
  if (r < 0) {
    const std::string why = reasons_since(mark);
    throw std::runtime_error(field + ": cannot probe '" + devargs + "': " + (why.empty() ? rte_strerror(-r) : why));
  }
  return info.Env().Undefined();
}

QUIVER_NAPI(dpdkStatus) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", rte_version());
  o.Set("initialised", g_ready);
  Napi::Array a = Napi::Array::New(env);
  for (size_t i = 0; i < g_effective_args.size(); ++i) a.Set(uint32_t(i), g_effective_args[i]);
  o.Set("args", a);
  o.Set("lastFailure", g_last_failure.empty() ? env.Null() : Napi::String::New(env, g_last_failure));
  if (g_ready) {
    const rte_iova_mode m = rte_eal_iova_mode();
    o.Set("iovaMode", m == RTE_IOVA_VA ? "va" : m == RTE_IOVA_PA ? "pa" : "dc");
    o.Set("lcores", rte_lcore_count());
    o.Set("mainLcore", rte_get_main_lcore());
    o.Set("ports", rte_eth_dev_count_avail());
  }
  return o;
}

QUIVER_NAPI(dpdkLog) {
  const uint32_t n = info.Length() > 0 && info[0].IsNumber() ? arg_u32(info, 0, "lines") : 200;
  return Napi::String::New(info.Env(), recent_log(n));
}

}  // namespace quiver::dpdk
