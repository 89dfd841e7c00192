#!/usr/bin/env python3
"""Hold N idle keep-alive connections open to a proxy and report its RSS before and after.

Opens N connections in batches, sends one keep-alive GET on each and reads the whole response (it must be
200 with a BODY-byte body), then holds all of them idle for HOLD seconds. Prints key=value lines:
ok, failed, closed_during_hold, rss_before_kib, rss_after_kib, bytes_per_conn. Used by idle-conns.sh.
"""
import argparse
import os
import resource
import selectors
import socket
import sys
import time


def tree(pid):
    """pid and all its live descendants, from /proc/PID/task/TID/children."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def rss_kib(pid):
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def response_done(buf, body_len):
    """None while incomplete, True when a complete 200 with a body_len-byte body was read, False if wrong."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end].decode("latin-1").split("\r\n")
    parts = head[0].split(" ")
    if len(parts) < 2 or parts[1] != "200":
        return False
    length = None
    for line in head[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
        elif name.strip().lower() == "transfer-encoding":
            return False  # the backend sends Content-Length; a proxy has no reason to re-frame it
    if length is None:
        return False
    have = len(buf) - end - 4
    if have < length:
        return None
    return length == body_len and have == length


def open_batch(host, port, count, request, body_len, deadline):
    sel = selectors.DefaultSelector()
    state, done, failed = {}, [], 0
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((host, port))
        state[s] = b""
        sel.register(s, selectors.EVENT_WRITE)
    while state and time.monotonic() < deadline:
        for key, mask in sel.select(timeout=0.5):
            s = key.fileobj
            if mask & selectors.EVENT_WRITE:
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                    sel.unregister(s); s.close(); del state[s]; failed += 1
                    continue
                s.send(request)
                sel.modify(s, selectors.EVENT_READ)
                continue
            try:
                data = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            verdict = response_done(state[s] + data, body_len) if data else False
            if verdict is None:
                state[s] += data
                continue
            sel.unregister(s)
            del state[s]
            if verdict:
                done.append(s)
            else:
                s.close(); failed += 1
    for s in list(state):
        sel.unregister(s); s.close(); failed += 1
    sel.close()
    return done, failed


def still_open(s):
    try:
        return s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
    except (BlockingIOError, InterruptedError):
        return True
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--pid", type=int, required=True, help="the proxy's pid (its descendants are counted too)")
    ap.add_argument("-n", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--hold", type=float, default=5.0)
    ap.add_argument("--path", default="/100")
    ap.add_argument("--body", type=int, default=100)
    ap.add_argument("--timeout", type=float, default=120.0, help="limit for opening all connections")
    a = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and a.n + 64 > hard:
        sys.exit(f"idle_client: N={a.n} needs more than the fd hard limit {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    request = f"GET {a.path} HTTP/1.1\r\nHost: {a.host}:{a.port}\r\n\r\n".encode()
    before = rss_kib(a.pid)
    held, failed = [], 0
    deadline = time.monotonic() + a.timeout
    while len(held) + failed < a.n and time.monotonic() < deadline:
        done, bad = open_batch(a.host, a.port, min(a.batch, a.n - len(held) - failed), request, a.body, deadline)
        held += done
        failed += bad
    failed += a.n - len(held) - failed
    time.sleep(a.hold)
    after = rss_kib(a.pid)
    closed = sum(1 for s in held if not still_open(s))
    print(f"ok={len(held)}")
    print(f"failed={failed}")
    print(f"closed_during_hold={closed}")
    print(f"rss_before_kib={before}")
    print(f"rss_after_kib={after}")
    print(f"bytes_per_conn={(after - before) * 1024 / len(held) if held else 0:.0f}")
    for s in held:
        s.close()


if __name__ == "__main__":
    main()
