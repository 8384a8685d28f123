#!/usr/bin/python3
"""smtp_peer - the testbed's SMTP peers: one process, one listener per peer.

Usage: smtp_peer.py PEERS.json

PEERS.json: {"dir": DIR, "peers": [{"host", "addr", "port", "mode", "cert",
"key"}...]}. Modes:
  good   offers STARTTLS with the scenario's certificate and chain
  forge  the attacker that completes STARTTLS with a forged certificate
         (the same server code; the scenario gives it the forged chain)
  strip  the attacker that strips STARTTLS from the EHLO reply and takes
         the mail in plaintext (STARTTLS, if sent anyway, gets 502)
  plain  an honest server without TLS (same wire behaviour as strip)
Hostile peers, for clients' robustness tests (issue 11):
  silent          accepts the connection and never sends a greeting
  slow-banner     trickles its 220 greeting one octet every 2 s
  garbage         answers with binary garbage instead of a greeting
  ehlo-flood      answers EHLO with 10 MB of "250-" continuation lines
  tls-alert       offers STARTTLS, then answers the ClientHello with a fatal
                  TLS alert (handshake_failure)
  drop-handshake  offers STARTTLS, reads the ClientHello, resets the
                  connection (SO_LINGER 0)
  banner-421      greets with "421 4.3.2 service not available"
  banner-554      greets with "554 5.3.2 no SMTP service here"

Every peer accepts mail: EHLO/HELO, STARTTLS, MAIL, RCPT, DATA, RSET, NOOP,
QUIT. Each accepted message is written to DIR/mail/NNNNNN-HOST.eml and one
JSON line is appended to DIR/log.jsonl: host, peer, mode, tls (bool),
tls_version, cipher, helo, mail_from, rcpt, size, file. DIR/ready appears
once every listener is bound. SIGHUP reloads certificates (rotation);
SIGTERM exits. Lines are capped at 4096 octets, messages at 10 MB, and every
read times out after 60 s: bad clients cost a thread, never the process.
"""

import itertools
import json
import os
import select
import signal
import socket
import ssl
import struct
import sys
import threading
import time

MAX_LINE = 4096
MAX_MSG = 10 * 1024 * 1024
TIMEOUT = 60

counter = itertools.count(1)
log_lock = threading.Lock()
contexts = {}
stopping = False


def make_context(peer):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(peer["cert"], peer["key"])
    return ctx


def load_contexts(peers):
    for p in peers:
        if p["mode"] in ("good", "forge"):
            contexts[p["host"]] = make_context(p)


class Conn:
    """Conn - one SMTP session over a plain or TLS socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def readline(self):
        while b"\n" not in self.buf:
            if len(self.buf) > MAX_LINE:
                raise ValueError("line too long")
            data = self.sock.recv(4096)
            if not data:
                raise EOFError
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        if len(line) > MAX_LINE:
            raise ValueError("line too long")
        return line.rstrip(b"\r")

    def send(self, text):
        self.sock.sendall(text.encode() + b"\r\n")


def record(spool, entry, data):
    n = next(counter)
    path = os.path.join(spool, "mail", "%06d-%s.eml" % (n, entry["host"]))
    with open(path, "wb") as f:
        f.write(data)
    entry["file"] = path
    entry["time"] = time.time()
    with log_lock:
        with open(os.path.join(spool, "log.jsonl"), "a") as f:
            f.write(json.dumps(entry) + "\n")


FLOOD_BYTES = 10 * 1024 * 1024
# A fatal handshake_failure(40) alert record, TLS 1.2 framing (RFC 8446 §6).
TLS_ALERT = b"\x15\x03\x03\x00\x02\x02\x28"


def wait_close(sock):
    """wait_close - read and discard until the client goes away (or TIMEOUT)."""
    try:
        while sock.recv(4096):
            pass
    except OSError:
        pass


def hostile_greeting(peer, sock):
    """hostile_greeting - the modes that misbehave before EHLO; True when done."""
    host, mode = peer["host"], peer["mode"]
    if mode == "silent":
        wait_close(sock)
        return True
    if mode == "slow-banner":
        for ch in ("220 %s ESMTP slow\r\n" % host).encode():
            sock.sendall(bytes([ch]))
            time.sleep(2)
        wait_close(sock)
        return True
    if mode == "garbage":
        sock.sendall(b"\x00\xff\xfeGARBAGE \x1b[31m not smtp\r\n" + os.urandom(512))
        wait_close(sock)
        return True
    if mode in ("banner-421", "banner-554"):
        code = mode[-3:]
        text = "4.3.2 service not available" if code == "421" else "5.3.2 no SMTP service here"
        sock.sendall(("%s %s %s\r\n" % (code, host, text)).encode())
        wait_close(sock)
        return True
    return False


def ehlo_flood(c):
    """ehlo_flood - 10 MB of continuation lines, then the last line."""
    line = b"250-" + b"X" * 90 + b"\r\n"
    chunk = line * 1000
    sent = 0
    while sent < FLOOD_BYTES:
        c.sock.sendall(chunk)
        sent += len(chunk)
    c.send("250 STARTTLS")


def hostile_tls(c, mode):
    """hostile_tls - after "220 ready": an alert or a reset instead of a handshake."""
    c.sock.recv(4096)  # the ClientHello (or part of it)
    if mode == "tls-alert":
        c.sock.sendall(TLS_ALERT)
        time.sleep(0.2)
    else:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def session(spool, peer, sock, addr):
    host, mode = peer["host"], peer["mode"]
    sock.settimeout(TIMEOUT)
    c = Conn(sock)
    try:
        hostile = hostile_greeting(peer, sock)
    except OSError:  # the client gave up on us: that is what these modes are for
        hostile = True
    if hostile:
        try:
            sock.close()
        except OSError:
            pass
        return
    tls = None
    helo = None
    env = None
    try:
        c.send("220 %s ESMTP mxtls testbed" % host)
        while True:
            line = c.readline()
            verb = line[:4].upper().decode("ascii", "replace")
            arg = line[5:].decode("utf-8", "replace").strip()
            if verb == "EHLO" and mode == "ehlo-flood":
                ehlo_flood(c)
                continue
            if verb == "EHLO":
                helo, env = arg, None
                caps = ["PIPELINING", "SIZE %d" % MAX_MSG, "8BITMIME"]
                if mode in ("good", "forge", "tls-alert", "drop-handshake") and tls is None:
                    caps.append("STARTTLS")
                lines = [host] + caps
                for i, cap in enumerate(lines):
                    c.send("250%s%s" % ("-" if i < len(lines) - 1 else " ", cap))
            elif verb == "HELO":
                helo, env = arg, None
                c.send("250 %s" % host)
            elif verb == "STAR" and line.upper() == b"STARTTLS":
                if mode not in ("good", "forge", "tls-alert", "drop-handshake") or tls is not None:
                    c.send("502 5.5.1 command not recognized")
                    continue
                if c.buf:
                    c.send("554 5.5.1 pipelined data after STARTTLS")
                    return
                c.send("220 2.0.0 ready to start TLS")
                if mode in ("tls-alert", "drop-handshake"):
                    hostile_tls(c, mode)
                    return
                sock = contexts[host].wrap_socket(sock, server_side=True)
                c = Conn(sock)
                tls = {"version": sock.version(), "cipher": sock.cipher()[0]}
                helo, env = None, None
            elif verb == "MAIL":
                if helo is None:
                    c.send("503 5.5.1 EHLO first")
                    continue
                frm = arg.split(":", 1)[1].strip() if ":" in arg else ""
                env = {"mail_from": frm.split()[0].strip("<>") if frm else "", "rcpt": []}
                c.send("250 2.1.0 ok")
            elif verb == "RCPT":
                if env is None:
                    c.send("503 5.5.1 MAIL first")
                    continue
                to = arg.split(":", 1)[1].strip() if ":" in arg else ""
                env["rcpt"].append(to.split()[0].strip("<>") if to else "")
                c.send("250 2.1.5 ok")
            elif verb == "DATA":
                if not env or not env["rcpt"]:
                    c.send("503 5.5.1 RCPT first")
                    continue
                c.send("354 end with <CRLF>.<CRLF>")
                data, too_big = bytearray(), False
                while True:
                    dl = c.readline()
                    if dl == b".":
                        break
                    if dl.startswith(b"."):
                        dl = dl[1:]
                    if len(data) + len(dl) + 2 > MAX_MSG:
                        too_big = True
                    else:
                        data += dl + b"\r\n"
                if too_big:
                    c.send("552 5.3.4 message too big")
                else:
                    entry = {"host": host, "peer": "%s:%d" % addr, "mode": mode,
                             "tls": tls is not None,
                             "tls_version": tls and tls["version"],
                             "cipher": tls and tls["cipher"], "helo": helo,
                             "mail_from": env["mail_from"], "rcpt": env["rcpt"],
                             "size": len(data)}
                    record(spool, entry, bytes(data))
                    c.send("250 2.0.0 ok: queued as %s" % os.path.basename(entry["file"]))
                env = None
            elif verb == "RSET":
                env = None
                c.send("250 2.0.0 ok")
            elif verb == "NOOP":
                c.send("250 2.0.0 ok")
            elif verb == "QUIT":
                c.send("221 2.0.0 bye")
                return
            else:
                c.send("502 5.5.2 command not recognized")
    except (EOFError, ValueError, OSError, ssl.SSLError):
        return
    finally:
        try:
            sock.close()
        except OSError:
            pass


def main():
    if len(sys.argv) != 2:
        print("usage: smtp_peer.py PEERS.json", file=sys.stderr)
        sys.exit(2)
    with open(sys.argv[1]) as f:
        conf = json.load(f)
    spool, peers = conf["dir"], conf["peers"]
    load_contexts(peers)
    listeners = {}
    for p in peers:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((p["addr"], p["port"]))
        s.listen(64)
        listeners[s.fileno()] = (s, p)

    def on_term(signum, frame):
        global stopping
        stopping = True

    reload_wanted = []
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, lambda s, f: reload_wanted.append(1))
    with open(os.path.join(spool, "ready"), "w") as f:
        f.write("%d\n" % os.getpid())
    poller = select.poll()
    for fd in listeners:
        poller.register(fd, select.POLLIN)
    while not stopping:
        if reload_wanted:
            reload_wanted.clear()
            try:
                load_contexts(peers)
            except (OSError, ssl.SSLError) as e:
                print("smtp_peer: reload failed: %s" % e, file=sys.stderr)
        try:
            events = poller.poll(500)
        except InterruptedError:
            continue
        for fd, _ in events:
            s, p = listeners[fd]
            try:
                conn, addr = s.accept()
            except OSError:
                continue
            t = threading.Thread(target=session, args=(spool, p, conn, addr), daemon=True)
            t.start()


if __name__ == "__main__":
    main()
