#include "pcap.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "clock.h"

namespace quiver {

namespace {
constexpr uint32_t kMagicNs = 0xa1b23c4d;
constexpr uint32_t kMagicUs = 0xa1b2c3d4;
constexpr uint32_t kLinkEthernet = 1;
struct FileHeader { uint32_t magic; uint16_t major, minor; int32_t zone; uint32_t sigfigs, snaplen, linktype; };
struct RecordHeader { uint32_t sec, frac, caplen, len; };
uint64_t realtime_offset_ns() {
  timespec r;
  clock_gettime(CLOCK_REALTIME, &r);
  return uint64_t(r.tv_sec) * 1000000000ull + uint64_t(r.tv_nsec) - monotonic_ns();
}
}  // namespace

void write_pcap(const std::string& file, const std::vector<CapturedPacket>& packets) {
  FILE* f = fopen(file.c_str(), "wb");
  if (!f) throw std::runtime_error("pcap file '" + file + "': " + strerror(errno));
  FileHeader h{kMagicNs, 2, 4, 0, 0, 65535, kLinkEthernet};
  bool ok = fwrite(&h, sizeof h, 1, f) == 1;
  const uint64_t off = realtime_offset_ns();
  for (const auto& p : packets) {
    const uint64_t t = p.ns + off;
    RecordHeader r{uint32_t(t / 1000000000ull), uint32_t(t % 1000000000ull), uint32_t(p.data.size()), p.orig_len};
    ok = ok && fwrite(&r, sizeof r, 1, f) == 1;
    ok = ok && (p.data.empty() || fwrite(p.data.data(), p.data.size(), 1, f) == 1);
  }
  ok = (fclose(f) == 0) && ok;
  if (!ok) throw std::runtime_error("pcap file '" + file + "': write failed");
}

std::vector<std::vector<uint8_t>> read_pcap(const std::string& file) {
  FILE* f = fopen(file.c_str(), "rb");
  if (!f) throw std::runtime_error("pcap file '" + file + "': " + strerror(errno));
  FileHeader h;
  std::vector<std::vector<uint8_t>> out;
  if (fread(&h, sizeof h, 1, f) != 1) { fclose(f); throw std::runtime_error("pcap file '" + file + "': too short for a pcap header"); }
  if (h.magic != kMagicNs && h.magic != kMagicUs) { fclose(f); throw std::runtime_error("pcap file '" + file + "': not a little-endian pcap file (bad magic)"); }
  if (h.linktype != kLinkEthernet) { fclose(f); throw std::runtime_error("pcap file '" + file + "': link type " + std::to_string(h.linktype) + " is not Ethernet"); }
  RecordHeader r;
  while (fread(&r, sizeof r, 1, f) == 1) {
    if (r.caplen > 65535) { fclose(f); throw std::runtime_error("pcap file '" + file + "': record " + std::to_string(out.size()) + " has caplen " + std::to_string(r.caplen)); }
    std::vector<uint8_t> d(r.caplen);
    if (r.caplen && fread(d.data(), r.caplen, 1, f) != 1) { fclose(f); throw std::runtime_error("pcap file '" + file + "': record " + std::to_string(out.size()) + " is truncated"); }
    out.push_back(std::move(d));
  }
  fclose(f);
  return out;
}

bool Capture::add(uint32_t if_index, bool tx, const uint8_t* data, uint32_t len, uint32_t orig_len) {
  if (config_.if_index >= 0 && uint32_t(config_.if_index) != if_index) return false;
  if ((tx && !config_.tx) || (!tx && !config_.rx)) return false;
  const uint32_t n = count_.fetch_add(1);
  if (n >= config_.max_packets) return true;
  const uint32_t cap = len < config_.snaplen ? len : config_.snaplen;
  CapturedPacket p{monotonic_ns(), if_index, uint8_t(tx), orig_len, std::vector<uint8_t>(data, data + cap)};
  std::lock_guard<std::mutex> g(lock_);
  packets_.push_back(std::move(p));
  return n + 1 >= config_.max_packets;
}

}  // namespace quiver
