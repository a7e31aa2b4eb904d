#!/usr/bin/python3
"""A hostile memif client, written from the protocol description independently of Quiver.

usage: rogue_peer.py SOCKET SCENARIO
Prints one JSON line: {"closed": bool, "disconnect": reason-or-null, "note": ...}.
Scenarios break one rule each (message size, order, version, region, ring, cookie, descriptor,
ring index); "valid" completes a correct handshake and stays connected for 0.3 s.
"""
import json
import mmap
import os
import socket
import struct
import sys
import tempfile
import time

MSG = 128
ACK, HELLO, INIT, ADD_REGION, ADD_RING, CONNECT, CONNECTED, DISCONNECT = 1, 2, 3, 4, 5, 6, 7, 8
COOKIE = 0x3E31F20
LOG2 = 4
SLOTS = 1 << LOG2
RING_BYTES = 128 + 16 * SLOTS
BUF = 2048
BUFFERS_AT = 1024
REGION = BUFFERS_AT + 2 * SLOTS * BUF


def msg(fmt, *fields):
    b = struct.pack('<' + fmt, *fields)
    return b + bytes(MSG - len(b))


def init(version=0x0200, ident=0, mode=0):
    return msg('HHIB24s32s', INIT, version, ident, mode, b'', b'rogue')


def add_region(index=0, size=REGION):
    return msg('HHQ', ADD_REGION, index, size)


def add_ring(c2s, index, offset, region=0, log2=LOG2, private=0, flags=None):
    f = (1 if c2s else 0) if flags is None else flags
    return msg('HHHHIBH', ADD_RING, f, index, region, offset, log2, private)


class Peer:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.s.settimeout(2.0)
        self.s.connect(path)
        self.closed = False
        self.reason = None
        hello = self.recv()
        assert hello is not None and struct.unpack_from('<H', hello)[0] == HELLO, 'no HELLO'

    def recv(self):
        try:
            data = self.s.recv(4096)
        except (socket.timeout, ConnectionResetError):
            return None
        if not data:
            self.closed = True
            return None
        if struct.unpack_from('<H', data)[0] == DISCONNECT:
            self.reason = data[6:102].split(b'\0')[0].decode()
        return data

    def send(self, data, fd=None):
        try:
            if fd is None:
                self.s.send(data)
            else:
                socket.send_fds(self.s, [data], [fd])
        except (BrokenPipeError, ConnectionResetError):
            self.closed = True

    def expect(self, kind):
        m = self.recv()
        t = struct.unpack_from('<H', m)[0] if m else None
        return t == kind

    def wait_closed(self, seconds=3.0):
        self.s.settimeout(0.05)
        end = time.time() + seconds
        while not self.closed and time.time() < end:
            self.recv()
        return self.closed


def region_fd(size=REGION, truncate_to=None, seal=True):
    fd = os.memfd_create('rogue', os.MFD_ALLOW_SEALING if seal else 0)
    os.ftruncate(fd, size if truncate_to is None else truncate_to)
    return fd


def layout(mem, cookie=COOKIE):
    for r in range(2):
        base = r * RING_BYTES
        struct.pack_into('<IHH', mem, base, cookie, 0, 0)
        struct.pack_into('<H', mem, base + 64, 0)
        for j in range(SLOTS):
            off = BUFFERS_AT + (r * SLOTS + j) * BUF
            struct.pack_into('<HHIII', mem, base + 128 + 16 * j, 0, 0, BUF, off, 0)


def handshake(p, cookie=COOKIE):
    """A correct handshake; returns the mapped region."""
    fd = region_fd()
    mem = mmap.mmap(fd, REGION)
    layout(mem, cookie)
    p.send(init()); p.expect(ACK)
    p.send(add_region(), fd); p.expect(ACK)
    p.send(add_ring(True, 0, 0), os.eventfd(0, os.EFD_NONBLOCK)); p.expect(ACK)
    p.send(add_ring(False, 0, RING_BYTES), os.eventfd(0, os.EFD_NONBLOCK)); p.expect(ACK)
    p.send(msg('H32s', CONNECT, b'rogue0'))
    return mem, fd, p.expect(CONNECTED)


def put_desc(mem, ring, slot, flags, length, offset, region=0):
    struct.pack_into('<HHIII', mem, ring * RING_BYTES + 128 + 16 * slot, flags, region, length, offset, 0)


def main():
    path, scenario = sys.argv[1], sys.argv[2]
    p = Peer(path)
    note = None
    if scenario == 'bad-size':
        p.send(b'\x03\x00' + bytes(60))
    elif scenario == 'not-init':
        p.send(add_region(), region_fd())
    elif scenario == 'unknown-type':
        p.send(msg('H', 77))
    elif scenario == 'bad-version':
        p.send(init(version=0x0100))
    elif scenario in ('missing-fd', 'region-index', 'region-small', 'region-unsealable', 'region-huge', 'region-not-file',
                      'ring-outside', 'ring-not-eventfd', 'ring-index', 'ring-private', 'ring-log2', 'ring-region',
                      'ring-misaligned', 'too-many-rings', 'no-s2c-ring', 'extra-fd', 'ack-from-client'):
        p.send(init()); p.expect(ACK)
        if scenario == 'missing-fd':
            p.send(add_region())
        elif scenario == 'region-index':
            p.send(add_region(index=1), region_fd())
        elif scenario == 'region-small':
            p.send(add_region(), region_fd(truncate_to=4096))
        elif scenario == 'region-unsealable':
            p.send(add_region(), region_fd(seal=False))  # memfd without MFD_ALLOW_SEALING
        elif scenario == 'region-huge':
            p.send(add_region(size=1 << 40), region_fd())
        elif scenario == 'region-not-file':
            r, w = os.pipe()
            p.send(add_region(), r)
        elif scenario == 'ack-from-client':
            p.send(msg('H', ACK))
        else:
            p.send(add_region(), region_fd()); p.expect(ACK)
            efd = os.eventfd(0, os.EFD_NONBLOCK)
            if scenario == 'ring-outside':
                p.send(add_ring(True, 0, REGION - 64), efd)
            elif scenario == 'ring-not-eventfd':
                r, w = os.pipe()
                p.send(add_ring(True, 0, 0), r)
            elif scenario == 'ring-index':
                p.send(add_ring(True, 1, 0), efd)
            elif scenario == 'ring-private':
                p.send(add_ring(True, 0, 0, private=8), efd)
            elif scenario == 'ring-log2':
                p.send(add_ring(True, 0, 0, log2=15), efd)
            elif scenario == 'ring-region':
                p.send(add_ring(True, 0, 0, region=1), efd)
            elif scenario == 'ring-misaligned':
                p.send(add_ring(True, 0, 4), efd)
            elif scenario == 'too-many-rings':
                p.send(add_ring(True, 0, 0), efd); p.expect(ACK)
                p.send(add_ring(True, 1, RING_BYTES), os.eventfd(0))
            elif scenario == 'no-s2c-ring':
                p.send(add_ring(True, 0, 0), efd); p.expect(ACK)
                p.send(msg('H32s', CONNECT, b'rogue0'))
            elif scenario == 'extra-fd':
                # An fd on a message that carries none must be closed, not kept (fd leak).
                p.send(add_ring(True, 0, 0), efd); p.expect(ACK)
                p.send(msg('H32s', CONNECT, b'rogue0'), os.eventfd(0))
    elif scenario == 'bad-cookie':
        _, _, connected = handshake(p, cookie=0x3E31F10)  # a v1 cookie
        note = {'connected': connected}
    elif scenario in ('valid', 'bad-desc-offset', 'bad-desc-region', 'bad-desc-empty', 'endless-chain', 'bad-head',
                      'bad-s2c-desc', 'bad-s2c-head', 'shrink'):
        mem, fd, connected = handshake(p)
        note = {'connected': connected}
        c2s_head = 6
        if scenario == 'valid':
            time.sleep(0.3)
        elif scenario == 'bad-desc-offset':
            put_desc(mem, 0, 0, 0, 64, REGION - 10)  # crosses the end of the region
            struct.pack_into('<H', mem, c2s_head, 1)
        elif scenario == 'bad-desc-region':
            put_desc(mem, 0, 0, 0, 64, BUFFERS_AT, region=3)
            struct.pack_into('<H', mem, c2s_head, 1)
        elif scenario == 'bad-desc-empty':
            put_desc(mem, 0, 0, 0, 0, BUFFERS_AT)
            struct.pack_into('<H', mem, c2s_head, 1)
        elif scenario == 'endless-chain':
            for j in range(SLOTS):
                put_desc(mem, 0, j, 1, 64, BUFFERS_AT + j * BUF)
            struct.pack_into('<H', mem, c2s_head, SLOTS)
        elif scenario == 'bad-head':
            struct.pack_into('<H', mem, c2s_head, SLOTS + 5)
        elif scenario == 'bad-s2c-desc':
            put_desc(mem, 1, 0, 0, BUF, 0xFFFFFF00)  # a buffer far outside the region
            struct.pack_into('<H', mem, RING_BYTES + 6, 1)
        elif scenario == 'bad-s2c-head':
            struct.pack_into('<H', mem, RING_BYTES + 6, SLOTS * 3)
        elif scenario == 'shrink':
            try:
                os.ftruncate(fd, 4096)
                note['shrunk'] = True
            except OSError as e:
                note['shrunk'] = False
                note['errno'] = e.errno
    else:
        print(json.dumps({'error': 'unknown scenario ' + scenario}))
        return 2
    closed = p.wait_closed(0.5 if scenario in ('valid', 'shrink') else 3.0)
    print(json.dumps({'closed': closed, 'disconnect': p.reason, 'note': note}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
