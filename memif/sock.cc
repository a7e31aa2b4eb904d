#include "sock.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "proto.h"

namespace quiver::memif {

bool is_abstract(const std::string& socket) { return !socket.empty() && socket[0] == '@'; }

std::string check_socket_name(const std::string& socket) {
  if (socket.empty()) return "must not be empty";
  const size_t room = sizeof(sockaddr_un::sun_path) - 1;
  if (is_abstract(socket)) {
    if (socket.size() < 2) return "an abstract name needs characters after '@'";
    if (socket.size() - 1 > room) return "abstract name longer than " + std::to_string(room) + " bytes";
  } else {
    if (socket[0] != '/') return "'" + socket + "' must be an absolute path or '@name' (abstract)";
    if (socket.size() > room) return "path longer than " + std::to_string(room) + " bytes";
    if (socket.back() == '/') return "'" + socket + "' names a directory";
  }
  if (socket.find('\0') != std::string::npos) return "must not contain NUL";
  return "";
}

socklen_t socket_address(const std::string& socket, sockaddr_un* addr, std::string* why) {
  const std::string bad = check_socket_name(socket);
  if (!bad.empty()) {
    *why = bad;
    return 0;
  }
  std::memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (is_abstract(socket)) {
    std::memcpy(addr->sun_path + 1, socket.data() + 1, socket.size() - 1);
    return socklen_t(offsetof(sockaddr_un, sun_path) + socket.size());  // '\0' + name
  }
  std::memcpy(addr->sun_path, socket.data(), socket.size());
  return socklen_t(sizeof *addr);
}

namespace {
bool make_dirs(const std::string& dir) {
  if (dir.empty()) return true;
  struct stat st;
  if (stat(dir.c_str(), &st) == 0) return S_ISDIR(st.st_mode);
  const size_t slash = dir.rfind('/');
  if (slash != std::string::npos && slash > 0 && !make_dirs(dir.substr(0, slash))) return false;
  return mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST;
}
}  // namespace

int listen_socket(const std::string& socket, std::string* why) {
  sockaddr_un addr;
  const socklen_t len = socket_address(socket, &addr, why);
  if (!len) return -1;
  if (!is_abstract(socket)) {
    const std::string dir = socket.substr(0, socket.rfind('/'));
    if (!make_dirs(dir)) {
      *why = "cannot create directory '" + dir + "': " + strerror(errno);
      return -1;
    }
    struct stat st;
    if (lstat(socket.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        *why = "'" + socket + "' exists and is not a socket";
        return -1;
      }
      // A file left by a dead server is removed; a live listener is somebody else's.
      std::string ignore;
      const int probe = connect_socket(socket, &ignore);
      if (probe >= 0) {
        close(probe);
        *why = "'" + socket + "' is in use by another listening process";
        return -1;
      }
      unlink(socket.c_str());
    }
  }
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *why = std::string("socket: ") + strerror(errno);
    return -1;
  }
  const int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    *why = "bind '" + socket + "': " + strerror(errno);
    close(fd);
    return -1;
  }
  if (listen(fd, 64) != 0) {
    *why = std::string("listen: ") + strerror(errno);
    close(fd);
    if (!is_abstract(socket)) unlink(socket.c_str());
    return -1;
  }
  return fd;
}

int connect_socket(const std::string& socket, std::string* why) {
  sockaddr_un addr;
  const socklen_t len = socket_address(socket, &addr, why);
  if (!len) return -1;
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *why = std::string("socket: ") + strerror(errno);
    return -1;
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    *why = "connect '" + socket + "': " + strerror(errno);
    close(fd);
    return -1;
  }
  return fd;
}

void unlink_socket(const std::string& socket) {
  if (!is_abstract(socket) && !socket.empty()) unlink(socket.c_str());
}

RecvResult recv_message(int sock, uint8_t* buf) {
  RecvResult r;
  // Room for one fd and the SCM_CREDENTIALS a SO_PASSCRED listener gets, plus slack so a peer
  // sending several fds is detected (and they are closed) instead of silently truncated.
  alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(int) * 8) + CMSG_SPACE(sizeof(ucred))];
  iovec iov{buf, kMsgSize};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  const ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  if (n < 0) {
    r.again = errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    return r;
  }
  r.size = n;
  r.truncated = (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (r.fd < 0) r.fd = fd;
      else close(fd);  // one fd per message in this protocol; never leak the rest
    }
  }
  return r;
}

bool send_message(int sock, const uint8_t* buf, int fd) {
  iovec iov{const_cast<uint8_t*>(buf), kMsgSize};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(int))];
  if (fd >= 0) {
    std::memset(control, 0, sizeof control);
    mh.msg_control = control;
    mh.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  return sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) == ssize_t(kMsgSize);
}

}  // namespace quiver::memif
