#!/usr/bin/env python3
"""resilient-nh: keeps a resilient nexthop group per prefix in step with the routes a BGP
daemon installs.

BIRD 2 and FRR install BGP multipath as a plain multipath route (hash-threshold ECMP): when a
nexthop leaves or joins, the kernel recomputes the hash ranges and flows of the nexthops that
stayed move too. A resilient nexthop group (Linux 5.13, `ip nexthop ... type resilient`) maps
the flow hash onto a table of buckets instead; a nexthop that leaves gives up only its own
buckets, and a joining one takes only buckets that were idle for --idle-timer seconds.

Contract:
- The BGP daemon exports its routes into kernel table --table (not used for forwarding).
- For every IPv4 prefix there, this program keeps one resilient group whose members are the
  route's gateways (each a nexthop object `via GW dev IF`), and a route to the prefix in table
  --into (default main) that uses the group, with protocol --proto. A prefix gone from --table
  loses its route, then its group. Nothing else in --into is touched.
- Object ids come from a private range (--id-base, 4096 ids); at start everything in that range
  and every route of protocol --proto in --into is removed, so a restart after a crash begins
  from a clean state (routes of the prefixes are back within one pass).
- It follows the table by `ip -o monitor route` (asynchronously; one pass per burst of events)
  and also re-reads it every --resync seconds. Changes are applied in one `ip -batch`, group
  membership changed with `ip nexthop replace` (the kernel migrates only the buckets of
  removed members at once).
- Prints "ready" on stdout after the first pass; on SIGTERM/SIGINT removes its routes and
  objects and exits 0.

Keep the BGP daemon's own multipath route in the main table at a higher metric (BIRD's
kernel routes carry metric 32, this program's metric 0): it carries the traffic whenever this
program is not running. See docs/SCALEOUT-TESTBED.md for BIRD (tested) and FRR.
"""
import argparse
import asyncio
import ipaddress
import json
import signal
import sys
import time


def log(msg):
    sys.stderr.write(f"{time.strftime('%H:%M:%S')} resilient-nh: {msg}\n")
    sys.stderr.flush()


async def run(*args, stdin=None):
    """Runs ip with ARGS asynchronously; returns (rc, stdout, stderr)."""
    p = await asyncio.create_subprocess_exec(
        "ip", *args, stdin=asyncio.subprocess.PIPE if stdin is not None else None,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await p.communicate(stdin.encode() if stdin is not None else None)
    return p.returncode, out.decode(), err.decode()


async def ip_json(*args):
    rc, out, err = await run("-j", *args)
    if rc != 0 and "table does not exist" in err:
        return []  # no route was ever added to that table
    if rc != 0:
        raise RuntimeError(f"ip -j {' '.join(args)}: {err.strip()}")
    return json.loads(out) if out.strip() else []


class Controller:
    def __init__(self, a):
        self.a = a
        self.nh_ids = {}      # (gateway, dev) -> id of its nexthop object
        self.groups = {}      # prefix -> (group id, tuple of member ids)
        self.free_group = a.id_base + 2048
        self.free_nh = a.id_base + 1
        self.passes = 0
        self.lock = asyncio.Lock()

    def _alloc(self, kind):
        if kind == "nh":
            used = set(self.nh_ids.values())
            i = self.free_nh
            while i in used:
                i += 1
            if i >= self.a.id_base + 2048:
                raise RuntimeError("out of nexthop ids")
            self.free_nh = i + 1
            return i
        used = {g for g, _ in self.groups.values()}
        i = self.free_group
        while i in used:
            i += 1
        if i >= self.a.id_base + 4096:
            raise RuntimeError("out of group ids")
        self.free_group = i + 1
        return i

    async def clean_start(self):
        """Removes what an earlier run left: its routes, then its groups and nexthops."""
        cmds = []
        for r in await ip_json("-4", "route", "show", "table", self.a.into, "proto", self.a.proto):
            cmds.append(f"route del {r['dst']} table {self.a.into} proto {self.a.proto}")
        objs = await ip_json("nexthop", "show")
        lo, hi = self.a.id_base, self.a.id_base + 4096
        groups = [o["id"] for o in objs if lo <= o["id"] < hi and "group" in o]
        singles = [o["id"] for o in objs if lo <= o["id"] < hi and "group" not in o]
        cmds += [f"nexthop del id {i}" for i in groups + singles]
        if cmds:
            await self.batch(cmds, tolerate=True)
            log(f"removed {len(cmds)} leftovers")

    async def batch(self, cmds, tolerate=False):
        # -force: go on after a failed line, so that one bad object cannot stall the rest.
        rc, _, err = await run("-force", "-batch", "-", stdin="\n".join(cmds) + "\n")
        if rc != 0 and not tolerate:
            log(f"ip -batch: {err.strip()}")
        return rc

    async def desired(self):
        """prefix -> sorted tuple of (gateway, dev) from table --table."""
        want = {}
        for r in await ip_json("-4", "route", "show", "table", self.a.table):
            dst = r.get("dst")
            if not dst or r.get("type", "unicast") != "unicast":
                continue
            if dst == "default":
                dst = "0.0.0.0/0"
            if "/" not in dst:
                dst += "/32"
            hops = r.get("nexthops") or [r]
            gws = tuple(sorted((h["gateway"], h["dev"]) for h in hops if "gateway" in h and "dev" in h))
            if gws:
                want[str(ipaddress.ip_network(dst, strict=False))] = gws
        return want

    async def sync(self):
        async with self.lock:
            want = await self.desired()
            cmds = []
            # New nexthop objects first (a group may only name existing ones).
            for gws in want.values():
                for gw in gws:
                    if gw not in self.nh_ids:
                        nid = self._alloc("nh")
                        self.nh_ids[gw] = nid
                        cmds.append(f"nexthop replace id {nid} via {gw[0]} dev {gw[1]}")
            for pfx, gws in want.items():
                members = tuple(self.nh_ids[g] for g in gws)
                cur = self.groups.get(pfx)
                if cur and cur[1] == members:
                    continue
                gid = cur[0] if cur else self._alloc("group")
                spec = "/".join(str(m) for m in members)
                if cur:
                    # Same group, new members: buckets of removed members move now, the
                    # others only when idle (a joining member fills up from idle buckets).
                    cmds.append(f"nexthop replace id {gid} group {spec} type resilient")
                else:
                    cmds.append(f"nexthop add id {gid} group {spec} type resilient "
                                f"buckets {self.a.buckets} idle_timer {self.a.idle_timer} "
                                f"unbalanced_timer {self.a.unbalanced_timer}")
                    cmds.append(f"route replace {pfx} nhid {gid} table {self.a.into} proto {self.a.proto}")
                self.groups[pfx] = (gid, members)
                log(f"{pfx}: group {gid} members {[g[0] for g in gws]}")
            for pfx in [p for p in self.groups if p not in want]:
                gid, _ = self.groups.pop(pfx)
                cmds.append(f"route del {pfx} table {self.a.into} proto {self.a.proto}")
                cmds.append(f"nexthop del id {gid}")
                log(f"{pfx}: withdrawn, group {gid} removed")
            in_use = {m for _, ms in self.groups.values() for m in ms}
            for gw, nid in list(self.nh_ids.items()):
                if nid not in in_use:
                    cmds.append(f"nexthop del id {nid}")
                    del self.nh_ids[gw]
            if cmds:
                await self.batch(cmds)
            self.passes += 1

    async def remove_all(self):
        cmds = []
        for pfx, (gid, _) in self.groups.items():
            cmds.append(f"route del {pfx} table {self.a.into} proto {self.a.proto}")
            cmds.append(f"nexthop del id {gid}")
        cmds += [f"nexthop del id {nid}" for nid in self.nh_ids.values()]
        if cmds:
            await self.batch(cmds, tolerate=True)
        self.groups.clear()
        self.nh_ids.clear()


async def main():
    p = argparse.ArgumentParser(description="resilient nexthop groups from a BGP daemon's table")
    p.add_argument("--table", required=True, help="kernel table the BGP daemon exports to")
    p.add_argument("--into", default="main", help="table for the forwarding routes (default main)")
    p.add_argument("--proto", default="201", help="protocol of the routes this program adds")
    p.add_argument("--buckets", type=int, default=256)
    p.add_argument("--idle-timer", type=int, default=1, help="seconds before an idle bucket may move")
    p.add_argument("--unbalanced-timer", type=int, default=0, help="0: never move busy buckets")
    p.add_argument("--id-base", type=int, default=0x5C000)
    p.add_argument("--resync", type=float, default=5.0)
    a = p.parse_args()
    for name in ("table", "into", "proto"):
        v = getattr(a, name)
        if not (v == "main" or (v.isdigit() and 0 < int(v) < 2**32)):
            p.error(f"--{name} must be a number or main")
    if not 2 <= a.buckets <= 65535 or a.idle_timer < 0 or a.unbalanced_timer < 0:
        p.error("--buckets must be 2..65535, the timers >= 0")

    c = Controller(a)
    await c.clean_start()
    await c.sync()
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    kick = asyncio.Event()

    async def monitor():
        mon = await asyncio.create_subprocess_exec(
            "ip", "-o", "-4", "monitor", "route", stdout=asyncio.subprocess.PIPE)
        try:
            while True:
                line = await mon.stdout.readline()
                if not line:
                    raise RuntimeError("ip monitor ended")
                kick.set()
        finally:
            if mon.returncode is None:
                mon.terminate()
                await mon.wait()

    async def worker():
        while True:
            try:
                await asyncio.wait_for(kick.wait(), a.resync)
            except asyncio.TimeoutError:
                pass
            kick.clear()
            try:
                await c.sync()
            except Exception as e:  # a failed pass is retried on the next event or resync
                log(f"pass failed: {e}")

    tasks = [asyncio.create_task(monitor()), asyncio.create_task(worker())]
    done_stop = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait(tasks + [done_stop], return_when=asyncio.FIRST_COMPLETED)
    for t in tasks + [done_stop]:
        t.cancel()
    await c.remove_all()
    for t in done:
        if t is not done_stop and t.exception():
            log(f"stopped: {t.exception()}")
            return 1
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
