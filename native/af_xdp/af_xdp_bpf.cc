// The XDP side of af_xdp, through the bpf(2) syscall directly: no clang, libbpf or BTF at run
// time (this kernel has no BTF for CO-RE, and a six-instruction program needs no loader).
//
// Program:  r2 = ctx->rx_queue_index; r1 = &xsks; r3 = XDP_PASS; return bpf_redirect_map(r1, r2, r3)
// Frames of a queue without a socket fall back to XDP_PASS (the kernel stack).
//
// Attachment is a BPF link (BPF_LINK_CREATE) by default: the link belongs to our fd, so a
// crashed or killed Quiver detaches automatically and nothing stale is left on the interface.
// Netlink attachment (the legacy way, and the only one older tools use) survives its owner; a
// program named quiver_xsk found attached at start is therefore a leftover of ours and is
// replaced; a foreign one only with replaceProgram.
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "af_xdp.h"

namespace quiver::af_xdp_bpf {
namespace {

long sys_bpf(int cmd, bpf_attr* attr) { return syscall(__NR_bpf, cmd, attr, sizeof *attr); }

bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

std::string prog_name(uint32_t id, int* fd_out) {
  bpf_attr a{};
  a.prog_id = id;
  const int fd = int(sys_bpf(BPF_PROG_GET_FD_BY_ID, &a));
  if (fd < 0) return "";
  bpf_prog_info info{};
  bpf_attr g{};
  g.info.bpf_fd = uint32_t(fd);
  g.info.info_len = sizeof info;
  g.info.info = reinterpret_cast<uint64_t>(&info);
  std::string name = sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &g) == 0 ? std::string(info.name) : "";
  *fd_out = fd;
  return name;
}

}  // namespace

int create_xsk_map(uint32_t entries) {
  bpf_attr a{};
  a.map_type = BPF_MAP_TYPE_XSKMAP;
  a.key_size = 4;
  a.value_size = 4;
  a.max_entries = entries;
  std::strncpy(a.map_name, "quiver_xsks", sizeof a.map_name - 1);
  const int fd = int(sys_bpf(BPF_MAP_CREATE, &a));
  if (fd < 0) throw std::runtime_error("host: cannot create the XSK map: " + netdev::errno_str(errno));
  return fd;
}

int load_redirect_program(int map_fd) {
  const bpf_insn prog[] = {
      insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_1, offsetof(xdp_md, rx_queue_index), 0),
      insn(BPF_LD | BPF_IMM | BPF_DW, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, map_fd),
      insn(0, 0, 0, 0, 0),
      insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_3, 0, 0, XDP_PASS),
      insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_redirect_map),
      insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
  };
  static char log[4096];
  bpf_attr a{};
  a.prog_type = BPF_PROG_TYPE_XDP;
  a.insns = reinterpret_cast<uint64_t>(prog);
  a.insn_cnt = sizeof prog / sizeof prog[0];
  a.license = reinterpret_cast<uint64_t>("GPL");
  a.expected_attach_type = BPF_XDP;
  a.log_buf = reinterpret_cast<uint64_t>(log);
  a.log_size = sizeof log;
  a.log_level = 1;
  std::strncpy(a.prog_name, kProgName, sizeof a.prog_name - 1);
  log[0] = 0;
  const int fd = int(sys_bpf(BPF_PROG_LOAD, &a));
  if (fd < 0)
    throw std::runtime_error("host: the kernel refused the XDP redirect program: " + netdev::errno_str(errno) +
                             (log[0] ? std::string(" (verifier: ") + log + ")" : ""));
  return fd;
}

uint32_t prog_id(int prog_fd) {
  bpf_prog_info info{};
  bpf_attr g{};
  g.info.bpf_fd = uint32_t(prog_fd);
  g.info.info_len = sizeof info;
  g.info.info = reinterpret_cast<uint64_t>(&info);
  return sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &g) == 0 ? info.id : 0;
}

void map_set(int map_fd, uint32_t key, int xsk_fd) {
  bpf_attr a{};
  uint32_t value = uint32_t(xsk_fd);
  a.map_fd = uint32_t(map_fd);
  a.key = reinterpret_cast<uint64_t>(&key);
  a.value = reinterpret_cast<uint64_t>(&value);
  a.flags = BPF_ANY;
  if (sys_bpf(BPF_MAP_UPDATE_ELEM, &a) != 0)
    throw std::runtime_error("queues: cannot put the socket of queue " + std::to_string(key) + " into the XSK map: " +
                             netdev::errno_str(errno));
}

std::string clear_stale(int ifindex, const std::string& host, bool replace_foreign) {
  const netdev::XdpState st = netdev::xdp_state(ifindex);
  if (st.attached == XDP_ATTACHED_NONE) return "";
  if (st.attached == XDP_ATTACHED_HW)
    throw std::runtime_error("host: '" + host + "' has an XDP program offloaded to hardware; remove it first");
  std::string what;
  const struct {
    uint32_t id;
    uint32_t flags;
  } attached[] = {{st.drv_prog_id ? st.drv_prog_id : (st.attached == XDP_ATTACHED_DRV ? st.prog_id : 0), XDP_FLAGS_DRV_MODE},
                  {st.skb_prog_id ? st.skb_prog_id : (st.attached == XDP_ATTACHED_SKB ? st.prog_id : 0), XDP_FLAGS_SKB_MODE}};
  for (const auto& a : attached) {
    if (!a.id) continue;
    int fd = -1;
    const std::string name = prog_name(a.id, &fd);
    const std::string desc = "XDP program '" + name + "' (id " + std::to_string(a.id) + ")";
    if (name != kProgName && !replace_foreign) {
      if (fd >= 0) close(fd);
      throw std::runtime_error("host: '" + host + "' already has " + desc +
                               " attached; pass replaceProgram: true to replace it");
    }
    const int rc = netdev::set_xdp(ifindex, -1, a.flags, fd);
    if (fd >= 0) close(fd);
    if (rc == -EBUSY || rc == -EEXIST)
      throw std::runtime_error("host: '" + host + "' has " + desc +
                               " attached through a BPF link held by a running process (another dataplane?)");
    if (rc < 0) throw std::runtime_error("host: cannot remove " + desc + " from '" + host + "': " + netdev::errno_str(-rc));
    what += (what.empty() ? "" : ", ") + desc;
  }
  return what;
}

int attach(int ifindex, const std::string& host, int prog_fd, const std::string& mode, XdpAttach how, XdpMode* mode_out) {
  const bool try_native = mode != "generic";
  const bool try_generic = mode != "native";
  int last_err = 0;
  for (int pass = 0; pass < 2; ++pass) {
    const bool native = pass == 0;
    if ((native && !try_native) || (!native && !try_generic)) continue;
    const uint32_t flags = native ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
    if (how == XdpAttach::Link) {
      bpf_attr a{};
      a.link_create.prog_fd = uint32_t(prog_fd);
      a.link_create.target_ifindex = uint32_t(ifindex);
      a.link_create.attach_type = BPF_XDP;
      a.link_create.flags = flags;
      const int fd = int(sys_bpf(BPF_LINK_CREATE, &a));
      if (fd >= 0) {
        *mode_out = native ? XdpMode::Native : XdpMode::Generic;
        return fd;
      }
      last_err = errno;
    } else {
      const int rc = netdev::set_xdp(ifindex, prog_fd, flags | XDP_FLAGS_UPDATE_IF_NOEXIST, -1);
      if (rc == 0) {
        *mode_out = native ? XdpMode::Native : XdpMode::Generic;
        return -1;
      }
      last_err = -rc;
    }
  }
  throw std::runtime_error("mode: cannot attach XDP (" + mode + ") to '" + host + "': " + netdev::errno_str(last_err));
}

void detach(AfXdpInterface& xi) {
  if (xi.link_fd >= 0) {
    close(xi.link_fd);  // the link goes with its last fd
    xi.link_fd = -1;
  } else if (xi.attach == XdpAttach::Netlink && xi.prog_fd >= 0 && !xi.gone) {
    // Only if it is still our program: someone may have replaced it meanwhile.
    netdev::set_xdp(xi.host_ifindex, -1, xi.mode == XdpMode::Native ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE, xi.prog_fd);
  }
}

}  // namespace quiver::af_xdp_bpf
