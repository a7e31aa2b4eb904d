// pcap capture (VPP's `pcap trace`): workers copy matching packets into memory while a
// capture is active; the control side writes a pcap file (nanosecond timestamps, Ethernet
// link type) when it is stopped. Also used by pg to write its output.
#pragma once
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace quiver {

struct CapturedPacket {
  uint64_t ns;
  uint32_t if_index;
  uint8_t tx;
  uint32_t orig_len;
  std::vector<uint8_t> data;
};

// Writes packets as a pcap file; throws std::runtime_error naming the file on failure.
void write_pcap(const std::string& file, const std::vector<CapturedPacket>& packets);
// Reads an Ethernet pcap (micro- or nanosecond); throws naming the file and the problem.
std::vector<std::vector<uint8_t>> read_pcap(const std::string& file);

struct CaptureConfig {
  bool rx = true;
  bool tx = true;
  uint32_t max_packets = 100;
  uint32_t snaplen = 9216;
  int64_t if_index = -1;  // -1: any interface
  std::string file;
};

class Capture {
 public:
  bool active() const { return active_.load(std::memory_order_relaxed); }
  void begin(const CaptureConfig& c) {
    std::lock_guard<std::mutex> g(lock_);
    config_ = c;
    packets_.clear();
    packets_.reserve(c.max_packets < 65536 ? c.max_packets : 65536);
    count_.store(0);
    active_.store(true);
  }
  // Returns whether the capture is full (the caller then stops capturing).
  bool add(uint32_t if_index, bool tx, const uint8_t* data, uint32_t len, uint32_t orig_len);
  void end() { active_.store(false); }
  const CaptureConfig& config() const { return config_; }
  uint32_t count() const { return count_.load(); }
  std::vector<CapturedPacket> take() {
    std::lock_guard<std::mutex> g(lock_);
    return std::move(packets_);
  }

 private:
  std::atomic<bool> active_{false};
  std::atomic<uint32_t> count_{0};
  CaptureConfig config_;
  std::mutex lock_;
  std::vector<CapturedPacket> packets_;
};

}  // namespace quiver
