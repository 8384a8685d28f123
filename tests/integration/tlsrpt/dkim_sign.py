#!/usr/bin/env python3
"""dkim_sign - sign an email with DKIM (RFC 6376) for the tlsrpt_dkim test.

Usage: dkim_sign.py KEY.pem DOMAIN SELECTOR < message > signed

An implementation of its own (standard library and the openssl command),
independent of the libopendkim that mxtls verifies with: rsa-sha256,
c=relaxed/relaxed (RFC 6376 §3.4.2, §3.4.4), the header fields present
among From, To, Subject, Date, Message-ID, MIME-Version and Content-Type.
The DKIM-Signature field is put in front of the message, which is otherwise
written back unchanged.
"""
import base64
import hashlib
import re
import subprocess
import sys
import time

SIGNED = ["from", "to", "subject", "date", "message-id", "mime-version", "content-type"]


def relaxed_body(body):
    """RFC 6376 §3.4.4: WSP runs to one SP, no WSP at line ends, no empty lines at the end."""
    lines = body.replace(b"\r\n", b"\n").split(b"\n")
    out = [re.sub(rb"[ \t]+", b" ", ln).rstrip(b" ") for ln in lines]
    while out and out[-1] == b"":
        out.pop()
    return b"".join(ln + b"\r\n" for ln in out)


def relaxed_header(name, value):
    """RFC 6376 §3.4.2: lower-case name, unfolded value, WSP runs to one SP, trimmed."""
    value = re.sub(rb"\r?\n", b"", value)
    value = re.sub(rb"[ \t]+", b" ", value).strip(b" ")
    return name.lower().strip() + b":" + value


def main():
    key, domain, selector = sys.argv[1:4]
    msg = sys.stdin.buffer.read()
    sep = msg.find(b"\n\n")
    head, body = (msg[:sep + 1], msg[sep + 2:]) if sep >= 0 else (msg, b"")
    fields = []  # (name, raw value with folding)
    for line in head.replace(b"\r\n", b"\n").split(b"\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] = (fields[-1][0], fields[-1][1] + b"\r\n" + line)
        else:
            name, _, value = line.partition(b":")
            fields.append((name, value))
    bh = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest()).decode()
    names = [n for n in SIGNED if any(f[0].strip().lower() == n.encode() for f in fields)]
    sig = (f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s={selector}; "
           f"t={int(time.time())}; h={':'.join(names)}; bh={bh}; b=")
    data = b""
    for n in names:  # RFC 6376 §5.4.2: the last instance of each name
        f = [x for x in fields if x[0].strip().lower() == n.encode()][-1]
        data += relaxed_header(f[0], f[1]) + b"\r\n"
    data += relaxed_header(b"DKIM-Signature", sig.encode())  # no CRLF (§3.7)
    b = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=data,
                       capture_output=True, check=True).stdout
    b64 = base64.b64encode(b).decode()
    folded = "\n\t".join(b64[i:i + 64] for i in range(0, len(b64), 64))
    shown = sig.replace("; h=", ";\n\th=")
    sys.stdout.buffer.write(f"DKIM-Signature: {shown}\n\t{folded}\n".encode() + msg)


if __name__ == "__main__":
    main()
