#!/usr/bin/env python3
"""Benchmark peer: time for aioice to connect two of its own ICE agents on loopback.

Per run:
  1. create a controlling and a controlled aioice.Connection (components=1,
     no STUN/TURN server, IPv4 only);
  2. gather_candidates() on both;
  3. exchange ufrag/pwd and candidates, then signal end-of-candidates
     (add_remote_candidate(None));
  4. asyncio.gather(a.connect(), b.connect());
  5. close both.

"total_ms" runs from just before gathering until both connect() calls have
returned; "connect_ms" covers step 4 only.

Loopback only
-------------
aioice has no parameter that restricts gathering to one interface: in
aioice.ice.Connection.gather_candidates() the host addresses come from the
module-level function aioice.ice.get_host_addresses(use_ipv4, use_ipv6), which
enumerates every adapter through ifaddr and explicitly *skips* 127.0.0.1 and
::1.  This script therefore replaces aioice.ice.get_host_addresses with a
function returning ["127.0.0.1"]; gather_candidates() looks the name up in the
module globals at call time, so the patch applies to every Connection.

With stun_server=None and turn_server=None (the defaults),
Connection.get_component_candidates() creates no server-reflexive or relay
task, so no STUN/TURN server is contacted.  mDNS is only used for remote
candidates whose host ends in ".local", which never happens here.

As a runtime check, every STUN/data datagram that aioice sends goes through
StunProtocol.send_stun() / StunProtocol.send_data(); both are wrapped to abort
if the destination is not 127.0.0.1, the mDNS helper is wrapped to abort if it
is ever called, and after each run the script asserts that every local
candidate, every remote candidate and every candidate pair (check list and
nominated pair) is 127.0.0.1 on both sides.

Usage: python3 aioice_ice.py [--runs N]   (default 20)
Prints one JSON object on stdout.
"""

import argparse
import asyncio
import json
import statistics
import sys
import time

try:
    import aioice
    import aioice.ice
except ImportError:
    print("aioice not installed: pip install aioice", file=sys.stderr)
    sys.exit(2)

LOOPBACK = "127.0.0.1"


class LoopbackViolation(RuntimeError):
    pass


# Violations are also recorded here, in case aioice swallows the exception
# inside one of its own tasks; they are checked after every run.
VIOLATIONS: list = []
PACKETS_SENT = [0]


def _violation(msg: str) -> LoopbackViolation:
    VIOLATIONS.append(msg)
    return LoopbackViolation(msg)


def _loopback_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list:
    return [LOOPBACK]


def install_loopback_guards() -> None:
    # Restrict host-candidate gathering to 127.0.0.1.
    aioice.ice.get_host_addresses = _loopback_host_addresses

    proto = aioice.ice.StunProtocol
    orig_send_stun = proto.send_stun
    orig_send_data = proto.send_data

    def send_stun(self, message, addr):
        if addr[0] != LOOPBACK:
            raise _violation(f"aioice tried to send STUN to {addr}")
        PACKETS_SENT[0] += 1
        return orig_send_stun(self, message, addr)

    async def send_data(self, data, addr):
        if addr[0] != LOOPBACK:
            raise _violation(f"aioice tried to send data to {addr}")
        PACKETS_SENT[0] += 1
        return await orig_send_data(self, data, addr)

    proto.send_stun = send_stun
    proto.send_data = send_data

    async def no_mdns(subscriber):
        raise _violation("aioice tried to start mDNS (multicast)")

    aioice.ice.get_or_create_mdns_protocol = no_mdns


def check_loopback(conn: "aioice.Connection", label: str) -> None:
    for c in conn.local_candidates:
        if c.host != LOOPBACK:
            raise LoopbackViolation(f"{label}: local candidate {c}")
    for c in conn.remote_candidates:
        if c.host != LOOPBACK:
            raise LoopbackViolation(f"{label}: remote candidate {c}")
    pairs = list(conn._check_list) + list(conn._nominated.values())
    for p in pairs:
        if p.local_addr[0] != LOOPBACK or p.remote_addr[0] != LOOPBACK:
            raise LoopbackViolation(f"{label}: candidate pair {p}")
    if 1 not in conn._nominated:
        raise RuntimeError(f"{label}: no nominated pair after connect()")


async def one_run() -> tuple:
    a = aioice.Connection(
        ice_controlling=True, components=1, use_ipv4=True, use_ipv6=False
    )
    b = aioice.Connection(
        ice_controlling=False, components=1, use_ipv4=True, use_ipv6=False
    )
    try:
        t0 = time.perf_counter()
        await asyncio.gather(a.gather_candidates(), b.gather_candidates())

        # Signalling: credentials and candidates, then end-of-candidates.
        a.remote_username, a.remote_password = b.local_username, b.local_password
        b.remote_username, b.remote_password = a.local_username, a.local_password
        for c in b.local_candidates:
            await a.add_remote_candidate(c)
        await a.add_remote_candidate(None)
        for c in a.local_candidates:
            await b.add_remote_candidate(c)
        await b.add_remote_candidate(None)

        t1 = time.perf_counter()
        await asyncio.gather(a.connect(), b.connect())
        t2 = time.perf_counter()

        check_loopback(a, "controlling")
        check_loopback(b, "controlled")
        if not a.local_candidates or not b.local_candidates:
            raise RuntimeError("no local candidates gathered")
        return (t2 - t0) * 1000.0, (t2 - t1) * 1000.0
    finally:
        await a.close()
        await b.close()
        if VIOLATIONS:
            raise LoopbackViolation("; ".join(VIOLATIONS))


def summary(values: list) -> dict:
    s = sorted(values)
    if len(s) >= 2:
        p90 = statistics.quantiles(s, n=10, method="inclusive")[8]
    else:
        p90 = s[0]
    return {
        "median": round(statistics.median(s), 3),
        "p90": round(p90, 3),
        "min": round(s[0], 3),
    }


async def main_async(runs: int) -> dict:
    totals, connects = [], []
    for _ in range(runs):
        total, connect = await one_run()
        totals.append(total)
        connects.append(connect)
    return {
        "peer": "aioice",
        "version": getattr(aioice, "__version__", "unknown"),
        "runs": runs,
        "total_ms": summary(totals),
        "connect_ms": summary(connects),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20, help="number of runs (default 20)")
    args = ap.parse_args()
    if args.runs < 1:
        print("--runs must be >= 1", file=sys.stderr)
        return 2
    install_loopback_guards()
    try:
        result = asyncio.run(main_async(args.runs))
    except LoopbackViolation as e:
        print(f"loopback violation: {e}", file=sys.stderr)
        return 3
    except Exception as e:  # noqa: BLE001
        print(f"aioice run failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    print(
        f"aioice_ice: {PACKETS_SENT[0]} datagrams sent, all to {LOOPBACK}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
