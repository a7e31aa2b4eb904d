#!/usr/bin/python3
"""Writes the seed corpus for memif_fuzz: valid handshakes in both roles followed by packet
traffic, so the fuzzer starts from inputs that reach the ring code. The encoding is the
harness's: a config header, then records [op][len][payload] (op 0 message, 1 write shared
memory, 2 receive burst, 3 transmit burst)."""
import os
import struct
import sys

MSG, WRITE, RX, TX = 0, 1, 2, 3
NO_FD, REGION, EVENTFD = 0, 1, 2
ACK, HELLO, INIT, ADD_REGION, ADD_RING, CONNECT, CONNECTED = 1, 2, 3, 4, 5, 6, 7


def pad(b):
    return b + bytes(128 - len(b))


def msg(body, fd=NO_FD, extra=b''):
    return bytes([MSG, 0xff]) + pad(body) + bytes([fd]) + extra


def write(region, offset, data):
    return bytes([WRITE, len(data), region]) + struct.pack('<I', offset) + data


def header(role, ip=False, secret=False, cl128=False, rxq=1, txq=1, log2=4, bsize=2048):
    h = role | (2 if ip else 0) | (4 if secret else 0) | (8 if cl128 else 0) | ((rxq - 1) << 5)
    return bytes([h, txq - 1, log2 - 1]) + struct.pack('<H', bsize - 128)


def server_seed(ip=False, secret=False, cl=64, chain=False, log2=4):
    slots = 1 << log2
    ring = 2 * cl + 16 * slots
    bufs = (2 * ring + 63) & ~63
    bsize = 256 if chain else 2048
    size = bufs + 2 * slots * bsize
    s = header(0, ip, secret, cl == 128, log2=log2)
    s += msg(struct.pack('<HHIB24s32s', INIT, 0x0200, 7, 1 if ip else 0, b's3cret' if secret else b'', b'peer'))
    s += msg(struct.pack('<HHQ', ADD_REGION, 0, size), REGION, struct.pack('<I', size - 1))
    for r in range(2):
        s += write(0, r * ring, struct.pack('<IHH', 0x3E31F20, 0, 0))
        for j in range(slots):
            s += write(0, r * ring + 2 * cl + 16 * j, struct.pack('<HHIII', 0, 0, bsize, bufs + (r * slots + j) * bsize, 0))
    s += msg(struct.pack('<HHHHIBH', ADD_RING, 1, 0, 0, 0, log2, 0), EVENTFD)
    s += msg(struct.pack('<HHHHIBH', ADD_RING, 0, 0, 0, ring, log2, 0), EVENTFD)
    s += msg(struct.pack('<H32s', CONNECT, b'peer0'))
    # client -> server: 3 packets (the second chained over two slots), then a receive burst
    s += write(0, 2 * cl + 0, struct.pack('<HHII', 0, 0, 64, bufs))
    s += write(0, 2 * cl + 16, struct.pack('<HHII', 1, 0, bsize, bufs + bsize))
    s += write(0, 2 * cl + 32, struct.pack('<HHII', 0, 0, 100, bufs + 2 * bsize))
    s += write(0, 6, struct.pack('<H', min(3, slots)))
    s += bytes([RX, 0, 32])
    # the client offers every server-to-client slot, then a transmit burst of 4 packets
    s += write(0, ring + 6, struct.pack('<H', slots))
    s += bytes([TX, 0, 3]) + struct.pack('<HHHH', 60, 1500 if chain else 200, 3000, 9000)
    s += bytes([RX, 0, 32])
    return s


def client_seed(ip=False, cl=64, log2=4, bsize=2048, rxq=1, txq=1):
    s = header(1, ip, False, cl == 128, rxq, txq, log2, bsize)
    s += msg(struct.pack('<H32sHHHHHB', HELLO, b'server', 0x0200, 0x0200, 255, 255, 255, 14))
    for _ in range(2 + rxq + txq):  # INIT, ADD_REGION, each ADD_RING
        s += msg(struct.pack('<H', ACK))
    s += msg(struct.pack('<H32s', CONNECTED, b'srv0'))
    slots = 1 << log2
    ring = 2 * cl + 16 * slots
    # the server returns C2S slots and fills S2C ones: write tail and descriptors
    s += bytes([TX, 0, 5]) + struct.pack('<HHHHH', 64, 64, 2100, 128, 5000)
    s += write(0, txq * ring + 2 * cl, struct.pack('<HHI', 0, 0, 64))
    s += write(0, txq * ring + 2 * cl + 16, struct.pack('<HHI', 1, 0, bsize))
    s += write(0, txq * ring + 2 * cl + 32, struct.pack('<HHI', 0, 0, 10))
    s += write(0, txq * ring + cl, struct.pack('<H', 3))
    s += bytes([RX, 0, 64])
    s += write(0, cl, struct.pack('<H', 5))
    s += bytes([TX, 0, 2]) + struct.pack('<HH', 64, 64)
    return s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), 'corpus')
    os.makedirs(out, exist_ok=True)
    seeds = {
        'server-eth': server_seed(),
        'server-ip-secret': server_seed(ip=True, secret=True),
        'server-cl128-chain': server_seed(cl=128, chain=True),
        'server-ring2': server_seed(log2=1),
        'client-eth': client_seed(),
        'client-small-buffers': client_seed(bsize=256),
        'client-2q-cl128': client_seed(cl=128, rxq=2, txq=2),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
