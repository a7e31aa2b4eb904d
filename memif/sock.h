// Unix SEQPACKET plumbing for the memif control channel: filesystem or abstract (`@name`)
// addresses, listen/connect, and one 128-byte message per sendmsg/recvmsg with an optional fd in
// SCM_RIGHTS. Engine-independent (driver, library, fuzz harness).
#pragma once
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>
#include <string>

namespace quiver::memif {

// Fills *addr for "path" or "@abstract"; returns the address length or 0 with *why set.
// The abstract length is offsetof(sun_path) + 1 + strlen(name), as libmemif and DPDK use
// (sizeof(sockaddr_un) would bind a different, NUL-padded name).
socklen_t socket_address(const std::string& socket, sockaddr_un* addr, std::string* why);
// Why `socket` cannot name a memif socket, or "" when it can.
std::string check_socket_name(const std::string& socket);
bool is_abstract(const std::string& socket);

// Listening socket (non-blocking, SO_PASSCRED like VPP and DPDK). Creates the directory, removes a
// stale socket file, refuses a path another process still listens on. -1 with *why on failure.
int listen_socket(const std::string& socket, std::string* why);
// Connected, non-blocking client socket; -1 with *why (no listener yet is the common case).
int connect_socket(const std::string& socket, std::string* why);
// Removes the socket file of a listener we created (no-op for abstract names).
void unlink_socket(const std::string& socket);

struct RecvResult {
  long size = -1;      // bytes received; 0 = peer closed; -1 = error or nothing (see again)
  bool again = false;  // EAGAIN: nothing to read
  int fd = -1;         // first SCM_RIGHTS fd (caller owns it); extra fds are closed here
  bool truncated = false;  // MSG_TRUNC or MSG_CTRUNC: the message or its fds were cut
};
// Receives one message into buf (kMsgSize bytes; a longer datagram is reported truncated).
RecvResult recv_message(int sock, uint8_t* buf);
// Sends exactly kMsgSize bytes, with `fd` in SCM_RIGHTS when fd >= 0. False on failure.
bool send_message(int sock, const uint8_t* buf, int fd);

}  // namespace quiver::memif
