// Control side of the memif driver: listeners shared by the server interfaces of one socket,
// client connections with reconnect backoff, handshakes, teardown. Every method is called with
// the engine control lock held; the implementation's thread takes the same lock.
#pragma once
#include <memory>
#include <string>

#include "memif_if.h"

namespace quiver {

struct MemifSocket;

class MemifControl {
 public:
  static MemifControl& get();
  // The listener for `socket`, created on first use; nullptr with *why when it cannot listen.
  MemifSocket* listen(const std::string& socket, std::string* why);
  MemifSocket* find_socket(const std::string& socket);
  bool id_taken(MemifSocket* s, uint32_t id);
  // Closes a listener no interface uses (after a failed create).
  void release_if_unused(MemifSocket* s);
  // Starts managing an interface (server: registered on s under its id).
  void add(MemifIf& m, MemifSocket* s);
  // Disconnects (telling the peer), forgets the interface, closes its listener if last.
  void remove(MemifIf& m);
  // Admin up: listen for / connect to the peer. Down: disconnect and stay down.
  void set_admin(MemifIf& m, bool up);

  class Impl;

 private:
  MemifControl();
  std::unique_ptr<Impl> impl_;
};

}  // namespace quiver
