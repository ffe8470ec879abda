#!/usr/bin/env python3
"""Writes the seeds of the record-based fuzz targets to fixtures/fuzz/<target>/.

    python3 fuzz/seeds.py        (from the repository root; rewrites them)

Each target reads its input as a selector byte (the configuration) followed
by records: an operation byte, a 16-bit big-endian length, that many bytes
(fuzz/fuzz_targets/common/mod.rs). The framer target reads a selector, a
count of read sizes, the sizes and the stream. The messages are built here
from RFC 8489 / RFC 5780 / RFC 3489 / RFC 8656 (FINGERPRINT computed), plus
the RFC 5769 test vector already in fixtures/fuzz/stun_attrs/.
"""

import os
import struct
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "fixtures", "fuzz")
COOKIE = 0x2112A442


def attr(t, value):
    pad = (4 - len(value) % 4) % 4
    return struct.pack("!HH", t, len(value)) + value + b"\0" * pad


def stun(mtype, attrs=b"", tid=b"natscopefuzz", fingerprint=True, cookie=True):
    """A STUN message; tid is 12 bytes (16 for cookieless RFC 3489)."""
    head = struct.pack("!I", COOKIE) + tid if cookie else tid
    body = attrs
    if fingerprint:
        msg = struct.pack("!HH", mtype, len(body) + 8) + head + body
        crc = (zlib.crc32(msg) ^ 0x5354554E) & 0xFFFFFFFF
        body += attr(0x8028, struct.pack("!I", crc))
    return struct.pack("!HH", mtype, len(body)) + head + body


def xor_addr(ip4, port):
    p = port ^ (COOKIE >> 16)
    a = bytes(b ^ c for b, c in zip(bytes(ip4), struct.pack("!I", COOKIE)))
    return struct.pack("!BBH", 0, 1, p) + a


def rec(op, data):
    return struct.pack("!BH", op, len(data)) + data


CHANGE_REQUEST, RESPONSE_PORT, PADDING = 0x0003, 0x0027, 0x0026
BINDING, BINDING_OK, BINDING_ERR = 0x0001, 0x0101, 0x0111
ALLOCATE, ALLOCATE_OK, ALLOCATE_ERR = 0x0003, 0x0103, 0x0113
REFRESH, REFRESH_OK = 0x0004, 0x0104
CREATE_PERMISSION, CHANNEL_BIND = 0x0008, 0x0009
PERMISSION_OK, CHANNEL_BIND_OK = 0x0108, 0x0109
DATA_INDICATION, SEND_INDICATION = 0x0117, 0x0016

plain = stun(BINDING)
change_both = stun(BINDING, attr(CHANGE_REQUEST, struct.pack("!I", 6)))
change_port = stun(BINDING, attr(CHANGE_REQUEST, struct.pack("!I", 2)))
change_none = stun(BINDING, attr(CHANGE_REQUEST, struct.pack("!I", 0)))
bad_change = stun(BINDING, attr(CHANGE_REQUEST, b"\0\0"))
padded = stun(BINDING, attr(PADDING, b"\0" * 1200))
response_port = stun(BINDING, attr(RESPONSE_PORT, struct.pack("!HH", 40000, 0)))
amplify = stun(
    BINDING,
    attr(RESPONSE_PORT, struct.pack("!HH", 40000, 0)) + attr(PADDING, b"\0" * 1200),
)
amplify_small_pad = stun(
    BINDING,
    attr(RESPONSE_PORT, struct.pack("!HH", 40001, 0)) + attr(PADDING, b"\0" * 64),
)
zero_port = stun(BINDING, attr(RESPONSE_PORT, struct.pack("!HH", 0, 0)))
unknown = stun(BINDING, attr(0x7FF0, b"abcd") + attr(0x0001, b"\0" * 8))
software = stun(BINDING, attr(0x8022, b"natscope-client"))
no_fp = stun(BINDING, fingerprint=False)
bad_fp = bytearray(plain)
bad_fp[-1] ^= 1
classic = stun(BINDING, fingerprint=False, cookie=False, tid=b"classicrfc3489tx")
classic_change = stun(
    BINDING,
    attr(CHANGE_REQUEST, struct.pack("!I", 6)),
    fingerprint=False,
    cookie=False,
    tid=b"classicrfc3489tx",
)
classic_unknown = stun(
    BINDING, attr(0x0010, b"\0" * 4), fingerprint=False, cookie=False, tid=b"classicrfc3489tx"
)
indication = stun(0x0011)
response = stun(BINDING_OK, attr(0x0020, xor_addr([192, 0, 2, 1], 50000)))
allocate = stun(ALLOCATE, attr(0x0019, b"\x11\0\0\0"))
truncated = plain[:-3]
long_len = plain[:2] + struct.pack("!H", 400) + plain[4:]
with open(os.path.join(OUT, "stun_attrs", "rfc5769-sample-request.bin"), "rb") as f:
    rfc5769 = f.read()

seeds = {}

# responder_udp: selector bits: 1 two-address, 2..3 rate (0, 1, 10, 50/s),
# 8 tiny table, 16..32 SOFTWARE, 64 no PADDING, 128 unspecified primary.
# Record op: bits 0..2 source, 3..4 socket, 5..7 time step.
seeds["responder_udp"] = {
    "rfc5780-all-features": bytes([0x11])
    + rec(0, plain)
    + rec(0x08, change_both)
    + rec(0x10, change_port)
    + rec(0x18, change_none)
    + rec(1, padded)
    + rec(2, response_port)
    + rec(3, software)
    + rec(4, no_fp)
    + rec(5, rfc5769),
    "amplification-attempts": bytes([0x21])
    + rec(0, amplify)
    + rec(1, amplify_small_pad)
    + rec(2, response_port)
    + rec(3, zero_port)
    + rec(4, padded),
    "single-address-refusals": bytes([0x10])
    + rec(0, change_both)
    + rec(0, change_none)
    + rec(1, bad_change)
    + rec(2, unknown)
    + rec(3, classic_change),
    "classic-rfc3489": bytes([0x01])
    + rec(0, classic)
    + rec(0x08, classic_change)
    + rec(1, classic_unknown),
    "malformed": bytes([0x00])
    + rec(0, b"")
    + rec(0, truncated)
    + rec(1, long_len)
    + rec(2, bytes(bad_fp))
    + rec(3, indication)
    + rec(4, response)
    + rec(5, allocate)
    + rec(6, b"GET / HTTP/1.1\r\n\r\n")
    + rec(7, b"\xff" * 64),
    "rate-limited-burst": bytes([0x03]) + rec(0, plain) * 24 + rec(0xA0, plain) * 4 + rec(1, plain),
    "many-sources-tiny-table": bytes([0x0B])
    + b"".join(rec(i, plain) for i in range(8)) * 3,
}

# responder_tcp: selector: 1 two-address, 2 SOFTWARE, 4 rate limit, 8 no
# PADDING, high bits the listener. Record op: bits 0..5 time (x50 ms),
# 6..7 == 3: a timeout.
stream2 = plain + change_none
seeds["responder_tcp"] = {
    "coalesced-and-split": bytes([0x01])
    + rec(0, stream2[:30])
    + rec(1, stream2[30:])
    + rec(0, padded + software),
    "refusals": bytes([0x03])
    + rec(0, change_both)
    + rec(0, response_port)
    + rec(0, unknown)
    + rec(0, bad_change),
    "oversize-frame": bytes([0x00]) + rec(0, plain) + rec(0, b"\x00\x01\x1f\x40" + plain[4:20] + b"\0" * 64),
    "slow-client-timeout": bytes([0x00]) + rec(0, plain[:10]) + rec(0xC0, b"") + rec(0, plain[10:]),
    "slow-client-eof": bytes([0x00]) + rec(0, plain + plain[:25]) + rec(0, b""),
    "classic-and-channel-data": bytes([0x00])
    + rec(0, plain)
    + rec(0, classic)
    + rec(0, b"\x40\x00\x00\x04abcd"),
    "rate-limited": bytes([0x04]) + rec(0, plain * 8),
}

# framer: selector bits 0..1 cap (65555, 4096, 548, the selector), 4
# STUN-only; then the number of read sizes (mod 8), the sizes (x7 bytes).
cd_padded = b"\x40\x00\x00\x05hello\0\0\0"
cd_unpadded = b"\x40\x01\x00\x03abc"
data_ind = stun(DATA_INDICATION, attr(0x0013, b"payload!"))
seeds["framer"] = {
    "stun-channel-data-padded": bytes([0, 2, 1, 3]) + plain + cd_padded + data_ind + padded,
    "channel-data-unpadded": bytes([0, 1, 2]) + cd_unpadded + data_ind + cd_unpadded + cd_padded,
    "stun-only-garbage": bytes([5, 0]) + plain + cd_padded,
    "oversize": bytes([2, 0]) + plain + padded,
    "bad-length": bytes([0, 0]) + plain + b"\x00\x01\x00\x03" + b"\0" * 16,
    "http": bytes([0, 1, 0]) + b"HTTP/1.1 400 Bad Request\r\n\r\n",
}

# turn_client: selector: 1 stream, 2 credentials. Record op % 4: 0 an
# answer with the client's last transaction id (signed when it carries
# MESSAGE-INTEGRITY), 1 as it is, 2 time passes, 3 raw bytes in pieces.
realm = attr(0x0014, b"natscope.test")
nonce = attr(0x0015, b"obMatJos2gAAAadl7W7PeDU4hKE72jda")
mi = attr(0x0008, b"\0" * 20)
err401 = stun(ALLOCATE_ERR, attr(0x0009, b"\0\0\x04\x01Unauthorized") + realm + nonce)
err438 = stun(ALLOCATE_ERR, attr(0x0009, b"\0\0\x04\x26Stale Nonce") + realm + nonce)
err300 = stun(
    ALLOCATE_ERR,
    attr(0x0009, b"\0\0\x03\x00Try Alternate") + attr(0x8023, b"\0\x01\x0d\x96\xc6\x33\x64\x02"),
)
err486 = stun(ALLOCATE_ERR, attr(0x0009, b"\0\0\x04\x86Allocation Quota Reached") + realm + nonce + mi)
alloc_ok_attrs = (
    attr(0x0016, xor_addr([198, 51, 100, 1], 49152))
    + attr(0x0020, xor_addr([192, 0, 2, 1], 50000))
    + attr(0x000D, struct.pack("!I", 600))
    + attr(0x8022, b"fuzz-turn")
)
alloc_ok = stun(ALLOCATE_OK, alloc_ok_attrs + mi)
perm_ok = stun(PERMISSION_OK, mi)
chan_ok = stun(CHANNEL_BIND_OK, mi)
refresh_ok = stun(REFRESH_OK, attr(0x000D, struct.pack("!I", 600)) + mi)
data_from_peer = stun(
    DATA_INDICATION, attr(0x0012, xor_addr([198, 51, 100, 9], 40000)) + attr(0x0013, b"echo")
)
channel_data = b"\x40\x00\x00\x04echo"
steps = (
    rec(0, err401)
    + rec(0, alloc_ok)
    + rec(0, perm_ok)
    + rec(0, chan_ok)
    + rec(1, data_from_peer)
    + rec(1, channel_data)
    + rec(2, b"\x27\x10")
    + rec(0, refresh_ok)
)
seeds["turn_client"] = {
    "udp-allocation": bytes([2]) + steps,
    "tcp-allocation": bytes([3]) + steps,
    "udp-no-credentials": bytes([0]) + rec(0, err401) + rec(0, err401) + rec(2, b"\x10\x00"),
    "errors": bytes([2]) + rec(0, err401) + rec(0, err438) + rec(0, err438) + rec(0, err486),
    "redirect": bytes([2]) + rec(0, err300) + rec(2, b"\x10\x00"),
    "tcp-coalesced": bytes([3]) + rec(0, err401) + rec(3, alloc_ok + channel_data + data_from_peer),
    "timeouts": bytes([2]) + rec(2, b"\x01\xf4") * 12,
}

# turn_server: selector: 1 TCP listener. Record op: bits 0..1 (0 message,
# 1 stream bytes on TCP, 2 peer datagram to the first relay, 3 time), bits
# 2.. the client.
lifetime = attr(0x000D, struct.pack("!I", 600))
req_transport = attr(0x0019, b"\x11\0\0\0")
username = attr(0x0006, b"alice")
peer = attr(0x0012, xor_addr([198, 51, 100, 9], 40000))
unauth_alloc = stun(ALLOCATE, req_transport, tid=b"allocate-tx1")
auth_alloc = stun(ALLOCATE, req_transport + username + realm + nonce + mi, tid=b"allocate-tx2")
perm = stun(CREATE_PERMISSION, peer + username + realm + nonce + mi, tid=b"permissiontx")
bind = stun(
    CHANNEL_BIND, attr(0x000C, b"\x40\0\0\0") + peer + username + realm + nonce + mi, tid=b"channelbind1"
)
refresh = stun(REFRESH, lifetime + username + realm + nonce + mi, tid=b"refresh-tx01")
send = stun(SEND_INDICATION, peer + attr(0x0013, b"hi"), tid=b"send-indicat")
seeds["turn_server"] = {
    "udp-session": bytes([0])
    + rec(0, unauth_alloc)
    + rec(0, auth_alloc)
    + rec(0, perm)
    + rec(0, bind)
    + rec(0, send)
    + rec(0, channel_data)
    + rec(2, b"peer data")
    + rec(0, refresh)
    + rec(3, b"\x02\x58"),
    "udp-binding": bytes([0]) + rec(0, plain) + rec(0, response_port) + rec(0, change_both) + rec(4, amplify),
    "tcp-stream": bytes([1])
    + rec(1, unauth_alloc + plain[:7])
    + rec(1, plain[7:] + channel_data)
    + rec(5, auth_alloc)
    + rec(1, b"\xff\0\0\0"),
    "tcp-binding": bytes([1]) + rec(0, plain) + rec(0, response_port),
    "malformed": bytes([0]) + rec(0, truncated) + rec(0, indication) + rec(0, response) + rec(4, b"\x01"),
    "many-clients": bytes([0]) + rec(0, unauth_alloc) + rec(4, unauth_alloc) + rec(8, unauth_alloc) + rec(3, b"\xff\xff"),
}

for target, files in seeds.items():
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(d, name + ".bin"), "wb") as f:
            f.write(data)
    print(f"{target}: {len(files)} seeds")
