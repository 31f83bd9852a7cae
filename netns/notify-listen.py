#!/usr/bin/env python3
"""Plays the service manager's side of sd_notify(3) for the tests.

    notify-listen.py SOCKET [CONTROL_SOCKET]

Binds an AF_UNIX datagram socket at SOCKET (a path, or @name in the abstract namespace) and
prints one line per datagram received: its fields joined by spaces. With CONTROL_SOCKET,
every READY=1 is followed by a line "control ok" or "control fail: ERROR", from one
list-services request sent to lvsd's control socket the moment READY=1 arrived, to check
that readiness is announced only once lvsd answers.
"""
import json
import os
import socket
import sys


def control_check(path):
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(path)
            s.sendall(json.dumps({"id": 1, "commands": [{"op": "list-services"}]}).encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        reply = json.loads(buf)
        return "control ok" if reply.get("ok") else "control fail: " + json.dumps(reply)
    except Exception as e:  # noqa: BLE001 - any failure is the answer
        return "control fail: %s" % e


def main():
    path = sys.argv[1]
    control = sys.argv[2] if len(sys.argv) > 2 else None
    addr = "\0" + path[1:] if path.startswith("@") else path
    if not path.startswith("@") and os.path.exists(path):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(addr)
    print("listening", flush=True)
    while True:
        data = sock.recv(65536)
        fields = data.decode("utf-8", "replace").split("\n")
        print(" ".join(f for f in fields if f), flush=True)
        if control and "READY=1" in fields:
            print(control_check(control), flush=True)


if __name__ == "__main__":
    main()
