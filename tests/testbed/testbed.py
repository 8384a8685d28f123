#!/usr/bin/python3
"""testbed - a mini-internet on loopback for mxtls tests.

Reads a scenario (see README.md for the format), generates DNSSEC-signed
zones under a private `test.` tree, a test CA and certificates, and
configurations for NSD, unbound, nginx and the SMTP peers; starts them on
127.0.0.0/8 in a fresh directory, waits until each answers, and records every
PID it started in DIR/pids. Nothing outside DIR is written; nothing is ever
killed by name.

Commands (also reachable through the thin `up`, `down` and `ctl` wrappers):
  up SCENARIO [--dir DIR] [--slot N] [--env FILE] [--quiet]
  down DIR [--keep]
  ctl DIR reload [SCENARIO]      regenerate and re-sign DNS, SIGHUP NSD
  ctl DIR rotate HOST [--no-dns] new key and certificate for HOST, TLSA auto
                                 records recomputed (unless --no-dns),
                                 services reloaded
  ctl DIR status                 which recorded processes are alive

Failure: any error during `up` stops what was already started and exits 1
with the reason on stderr. Python standard library only.
"""

import base64
import concurrent.futures
import hashlib
import json
import os
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SMTP_PEER = os.path.join(HERE, "smtp_peer.py")
ZONE_KINDS = ("signed", "insecure", "bogus-sig", "bogus-ds", "lame")
CERT_KINDS = ("valid", "selfsigned", "wrongname", "expired", "attacker")
SMTP_MODES = ("good", "strip", "forge", "plain",
              # hostile peers (smtp_peer.py): issue 11
              "silent", "slow-banner", "garbage", "ehlo-flood", "tls-alert",
              "drop-handshake", "banner-421", "banner-554")
WRONG_NAME = "wrong-name.test"
DEADLINE = 20.0  # seconds to wait for each service to answer


class TestbedError(Exception):
    pass


def die(msg):
    raise TestbedError(msg)


# ---------------------------------------------------------------- scenario


def norm(name):
    """norm - lower-case NAME, drop one trailing dot; must be under test."""
    n = name.lower().rstrip(".")
    if n != "test" and not n.endswith(".test"):
        die("name %r is not under the private test. tree" % name)
    return n


def check_addr(addr):
    try:
        packed = socket.inet_aton(addr)
    except OSError:
        die("bad IPv4 address %r" % addr)
    if packed[0] != 127:
        die("address %s is outside 127.0.0.0/8" % addr)
    return addr


def parse_opts(words, where, allowed, flags=()):
    """parse_opts - key=value words into a dict; repeatable keys become lists."""
    opts = {}
    for w in words:
        if "=" not in w:
            if w in flags:
                opts[w] = True
                continue
            die("%s: expected key=value, got %r" % (where, w))
        k, v = w.split("=", 1)
        if k not in allowed:
            die("%s: unknown option %r (known: %s)" % (where, k, ", ".join(allowed + flags)))
        if k == "header":
            opts.setdefault(k, []).append(v)
        else:
            opts[k] = v
    return opts


class Scenario:
    """Scenario - the parsed, validated content of a scenario file."""

    def __init__(self):
        self.zones = {}  # name -> {"kind", "ttl"}
        self.hosts = {}  # name -> {"addr": explicit or None, "pool": "mx"|"https"}
        self.records = []  # (owner, type, rdata-text or None, extra)
        self.mx = {}  # domain -> [(pref, host)]
        self.smtp = {}  # host -> {"mode", "cert"}
        self.sts = {}  # domain -> options
        self.policy = {}  # domain -> [lines]
        self.order = []  # host names in order of first mention

    def _host(self, name, addr=None, pool="mx"):
        h = self.hosts.get(name)
        if h is None:
            h = self.hosts[name] = {"addr": None, "pool": pool}
            self.order.append(name)
        if addr is not None:
            h["addr"] = check_addr(addr)
        return h

    @classmethod
    def load(cls, path):
        sc = cls()
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for lineno, raw in enumerate(text.splitlines(), 1):
            where = "%s:%d" % (path, lineno)
            try:
                words = shlex.split(raw, comments=True)
            except ValueError as e:
                die("%s: %s" % (where, e))
            if not words:
                continue
            try:
                sc._line(words[0], words[1:], where)
            except IndexError:
                die("%s: too few arguments for %r" % (where, words[0]))
            except ValueError as e:
                die("%s: %s" % (where, e))
            except TestbedError as e:
                if not str(e).startswith(where):
                    die("%s: %s" % (where, e))
                raise
        sc._finish()
        return sc

    def _line(self, kw, a, where):
        if kw == "zone":
            name = norm(a[0])
            kind = a[1] if len(a) > 1 else "signed"
            if kind not in ZONE_KINDS:
                die("%s: zone kind %r (known: %s)" % (where, kind, ", ".join(ZONE_KINDS)))
            if name == "test" or name.count(".") != 1:
                die("%s: zones are direct children of test. (got %s)" % (where, name))
            opts = parse_opts(a[2:], where, ("ttl", "sigdays"))
            # sigdays=N: signatures expire N days from now (default 30; mxtls check's
            # rrsig-expiring case)
            self.zones[name] = {"kind": kind, "ttl": int(opts.get("ttl", 60)),
                                "sigdays": float(opts.get("sigdays", 30))}
        elif kw == "host":
            self._host(norm(a[0]), a[1] if len(a) > 1 else None)
        elif kw == "mx":
            dom, pref, host = norm(a[0]), int(a[1]), norm(a[2])
            self.mx.setdefault(dom, []).append((pref, host))
            self._host(host)
            self.records.append((dom, "MX", "%d %s." % (pref, host)))
        elif kw == "txt":
            if len(a) < 2:
                die("%s: txt NAME STRING..." % where)
            for s in a[1:]:
                if len(s.encode()) > 255:
                    die("%s: TXT character-string longer than 255 octets" % where)
            rdata = " ".join('"%s"' % s.replace("\\", "\\\\").replace('"', '\\"') for s in a[1:])
            self.records.append((norm(a[0]), "TXT", rdata))
        elif kw == "tlsa":
            name = norm(a[0])
            u, s, m, data = int(a[1]), int(a[2]), int(a[3]), a[4]
            if data != "auto" and not data.startswith("auto:"):  # auto:HOST: HOST's cert
                int(data, 16)
            self.records.append((name, "TLSA", (u, s, m, data)))
        elif kw == "rr":
            self.records.append((norm(a[0]), a[1].upper(), " ".join(a[2:])))
        elif kw == "smtp":
            host = norm(a[0])
            mode = a[1] if len(a) > 1 else "good"
            if mode not in SMTP_MODES:
                die("%s: smtp mode %r (known: %s)" % (where, mode, ", ".join(SMTP_MODES)))
            opts = parse_opts(a[2:], where, ("cert", "forged", "addr", "chain", "days"))
            cert = opts.get("cert", "valid")
            forged = opts.get("forged", "attacker")
            for k in (cert, forged):
                if k not in CERT_KINDS:
                    die("%s: cert kind %r (known: %s)" % (where, k, ", ".join(CERT_KINDS)))
            chain = opts.get("chain", "full")
            if chain not in ("full", "leaf"):
                die("%s: chain=full or chain=leaf" % where)
            self._host(host, opts.get("addr"))
            self.smtp[host] = {"mode": mode, "cert": cert, "forged": forged, "chain": chain,
                               "days": int(opts.get("days", 365))}  # days=N: cert validity
        elif kw == "sts":
            dom = norm(a[0])
            opts = parse_opts(
                a[1:],
                where,
                ("cert", "status", "type", "redirect", "pad", "rate", "header", "addr", "eol"),
                ("chunked",),
            )
            cert = opts.get("cert", "valid")
            if cert not in CERT_KINDS:
                die("%s: cert kind %r (known: %s)" % (where, cert, ", ".join(CERT_KINDS)))
            self.sts[dom] = opts
            self._host("mta-sts." + dom, opts.get("addr"), pool="https")
        elif kw == "policy":
            self.policy.setdefault(norm(a[0]), []).append(" ".join(a[1:]))
        else:
            die("%s: unknown keyword %r" % (where, kw))

    def _finish(self):
        for dom in self.policy:
            if dom not in self.sts:
                die("policy lines for %s but no 'sts %s' line" % (dom, dom))

    def zone_of(self, name):
        """zone_of - the declared zone holding NAME, or "test"."""
        best = "test"
        for z in self.zones:
            if name == z or name.endswith("." + z):
                best = z
        return best


# ---------------------------------------------------------------- helpers


def run(argv, cwd=None, stdin=None):
    p = subprocess.run(argv, cwd=cwd, input=stdin, capture_output=True, text=True)
    if p.returncode != 0:
        die("%s failed (%d): %s" % (" ".join(argv[:3]), p.returncode, p.stderr.strip()))
    return p.stdout


def parallel(fn, items):
    items = list(items)
    if not items:
        return []
    workers = max(2, 2 * (os.cpu_count() or 1))
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        return list(ex.map(fn, items))


def write(path, text, mode=0o644):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, mode)


def slot_addrs(slot):
    return {
        "nsd": "127.53.%d.1" % slot,
        "unbound": "127.53.%d.2" % slot,
        "lame": "127.53.%d.3" % slot,
        "mx_net": 1 + 2 * slot,
        "https_net": 2 + 2 * slot,
    }


def allocate(sc, net):
    """allocate - give every host an address: explicit, else the next free one
    in 127.<pool>.0.0/16 in order of first mention (deterministic)."""
    taken = {h["addr"] for h in sc.hosts.values() if h["addr"]}
    counters = {"mx": 0, "https": 0}
    out = {}
    for name in sc.order:
        h = sc.hosts[name]
        if h["addr"]:
            out[name] = h["addr"]
            continue
        second = net["mx_net"] if h["pool"] == "mx" else net["https_net"]
        while True:
            i = counters[h["pool"]]
            counters[h["pool"]] += 1
            if i >= 250 * 250:
                die("address pool 127.%d.0.0/16 exhausted" % second)
            addr = "127.%d.%d.%d" % (second, i // 250, i % 250 + 1)
            if addr not in taken:
                break
        out[name] = addr
    return out


# ---------------------------------------------------------------- certificates

OPENSSL_CNF = """\
# minimal configuration: keeps /etc/ssl/openssl.cnf defaults out of our certs
[req]
distinguished_name = dn
prompt = no
[dn]
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ca]
default_ca = tb
[tb]
database = {dir}/index.txt
serial = {dir}/serial
new_certs_dir = {dir}/issued
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
"""

NEWKEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]


def make_ca(cadir, name, cn):
    cnf = os.path.join(cadir, "openssl.cnf")
    key, pem = os.path.join(cadir, name + ".key"), os.path.join(cadir, name + ".pem")
    run(["openssl", "req", "-config", cnf, "-x509"] + NEWKEY +
        ["-keyout", key, "-out", pem, "-subj", "/CN=" + cn, "-days", "3650",
         "-extensions", "ca_ext", "-sha256"])
    return key, pem


def make_cert(tb, host, kind, out, days=365):
    """make_cert - a fresh key and certificate for HOST of KIND into OUT.{key,pem}.
    Returns (key, leaf pem, chain pem: leaf then issuer, issuer pem or None)."""
    cadir = os.path.join(tb, "ca")
    cnf = os.path.join(cadir, "openssl.cnf")
    key, pem, chain = out + ".key", out + ".pem", out + ".chain.pem"
    name = WRONG_NAME if kind == "wrongname" else host
    subj = ["-subj", "/CN=" + name, "-addext", "subjectAltName=DNS:" + name]
    issuer = os.path.join(cadir, "attacker-ca.pem" if kind == "attacker" else "ca.pem")
    if kind == "selfsigned":
        issuer = None
        run(["openssl", "req", "-config", cnf, "-x509"] + NEWKEY + subj +
            ["-keyout", key, "-out", pem, "-days", "365", "-extensions", "leaf_ext", "-sha256",
             "-addext", "authorityKeyIdentifier=keyid"])
    elif kind == "expired":
        csr = out + ".csr"
        run(["openssl", "req", "-config", cnf, "-new"] + NEWKEY + subj +
            ["-keyout", key, "-out", csr])
        run(["openssl", "ca", "-config", cnf, "-batch", "-notext", "-in", csr, "-out", pem,
             "-cert", issuer, "-keyfile", os.path.join(cadir, "ca.key"),
             "-startdate", "20200101000000Z", "-enddate", "20210101000000Z",
             "-extensions", "leaf_ext"])
    else:
        run(["openssl", "req", "-config", cnf, "-x509"] + NEWKEY + subj +
            ["-keyout", key, "-out", pem, "-days", str(days), "-extensions", "leaf_ext",
             "-CA", issuer, "-CAkey", issuer[:-4] + ".key", "-sha256"])
    with open(pem) as f:
        text = f.read()
    if issuer:
        with open(issuer) as f:
            text += f.read()
    write(chain, text)
    os.chmod(key, 0o600)
    return {"key": key, "cert": pem, "chain": chain, "issuer": issuer}


def pem_der(path, index=0):
    """pem_der - the DER bytes of certificate INDEX in PEM file PATH."""
    with open(path) as f:
        text = f.read()
    blocks = text.split("-----BEGIN CERTIFICATE-----")[1:]
    body = blocks[index].split("-----END CERTIFICATE-----")[0]
    return base64.b64decode("".join(body.split()))


def der_tlv(buf, pos):
    """der_tlv - (tag, start of value, end of value) of the TLV at POS."""
    tag = buf[pos]
    ln = buf[pos + 1]
    pos += 2
    if ln & 0x80:
        n = ln & 0x7F
        ln = int.from_bytes(buf[pos:pos + n], "big")
        pos += n
    return tag, pos, pos + ln


def spki_der(cert):
    """spki_der - SubjectPublicKeyInfo of a DER certificate (RFC 5280 4.1)."""
    _, s, _ = der_tlv(cert, 0)  # Certificate
    _, p, _ = der_tlv(cert, s)  # tbsCertificate
    fields = []
    while len(fields) < 7:
        tag, vs, ve = der_tlv(cert, p)
        fields.append((tag, p, ve))
        p = ve
    if fields[0][0] != 0xA0:  # no explicit version: v1, one field fewer
        fields.insert(0, None)
    _, start, end = fields[6]
    return cert[start:end]


def tlsa_data(certfile, usage, selector, mtype):
    """tlsa_data - hex TLSA association data for the chain in CERTFILE:
    usage 0/2 use the issuer (second) certificate, 1/3 the leaf."""
    der = pem_der(certfile, 1 if usage in (0, 2) else 0)
    data = der if selector == 0 else spki_der(der)
    if mtype == 1:
        data = hashlib.sha256(data).digest()
    elif mtype == 2:
        data = hashlib.sha512(data).digest()
    return data.hex()


# ---------------------------------------------------------------- DNS


def keygen(zdir, zone):
    base = run(["ldns-keygen", "-a", "ECDSAP256SHA256", "-k", zone + "."], cwd=zdir).strip()
    with open(os.path.join(zdir, base + ".ds")) as f:
        ds = f.read().split()
    # owner IN DS tag alg digesttype digest
    return {"base": os.path.join(zdir, base), "ds": " ".join(ds[3:7])}


def zone_text(zone, ttl, records, serial):
    lines = [
        "$ORIGIN %s." % zone,
        "$TTL %d" % ttl,
        "@ IN SOA ns.test. hostmaster.test. %d 3600 600 86400 %d" % (serial, ttl),
        "@ IN NS ns.test.",
    ]
    for owner, rtype, rdata in records:
        lines.append("%s. IN %s %s" % (owner, rtype, rdata))
    return "\n".join(lines) + "\n"


def sign(zdir, zone, key, kind, sigdays=30):
    src = os.path.join(zdir, zone + ".zone")
    argv = ["ldns-signzone", "-f", os.path.join(zdir, zone + ".served")]
    if kind == "bogus-sig":
        argv += ["-i", "20200101000000", "-e", "20200201000000"]
    else:
        argv += ["-e", time.strftime("%Y%m%d%H%M%S",
                                     time.gmtime(time.time() + sigdays * 86400))]
    run(argv + [src, key["base"]])


def build_dns(tb, sc, addrs, net, certs, keys, serial):
    """build_dns - write and sign every zone; return (served zones, test DS)."""
    zdir = os.path.join(tb, "dns")
    per_zone = {z: [] for z in sc.zones}
    per_zone["test"] = [
        ("ns.test", "A", net["nsd"]),
        ("ns-lame.test", "A", net["lame"]),
    ]
    for name, addr in sorted(addrs.items()):
        per_zone[sc.zone_of(name)].append((name, "A", addr))
    for owner, rtype, rdata in sc.records:
        if rtype == "TLSA":
            u, s, m, data = rdata
            if data == "auto" or data.startswith("auto:"):
                host = owner.split(".", 2)[2] if owner.startswith("_") else owner
                host = norm(data[5:]) if data.startswith("auto:") else host
                if host not in certs:
                    die("tlsa %s auto: no smtp peer for %s" % (owner, host))
                data = tlsa_data(certs[host]["chain"], u, s, m)
            rdata = "%d %d %d %s" % (u, s, m, data)
        per_zone[sc.zone_of(owner)].append((owner, rtype, rdata))
    # delegations from test.
    for z, zi in sorted(sc.zones.items()):
        if zi["kind"] == "lame":
            per_zone["test"].append((z, "NS", "ns-lame.test."))
            continue
        per_zone["test"].append((z, "NS", "ns.test."))
        if zi["kind"] in ("signed", "bogus-sig"):
            per_zone["test"].append((z, "DS", keys[z]["ds"]))
        elif zi["kind"] == "bogus-ds":
            tag, alg, dt, digest = keys[z]["ds"].split()
            wrong = hashlib.sha256(bytes.fromhex(digest)).hexdigest()
            per_zone["test"].append((z, "DS", " ".join((tag, alg, dt, wrong))))
    served = []
    children = []
    for z, zi in sorted(sc.zones.items()):
        if zi["kind"] == "lame":
            continue
        served.append(z)
        write(os.path.join(zdir, z + ".zone"), zone_text(z, zi["ttl"], per_zone[z], serial))
        if zi["kind"] != "insecure":
            children.append(z)
        else:
            shutil.copy(os.path.join(zdir, z + ".zone"), os.path.join(zdir, z + ".served"))
    parallel(lambda z: sign(zdir, z, keys[z], sc.zones[z]["kind"], sc.zones[z]["sigdays"]),
             children)
    write(os.path.join(zdir, "test.zone"), zone_text("test", 60, per_zone["test"], serial))
    sign(zdir, "test", keys["test"], "signed")
    served.append("test")
    return served


def zonefile(tb, sc, z):
    """zonefile - what NSD serves for Z: signed, or a copy of the unsigned
    zone; the same name either way, so `ctl reload` may change a kind."""
    return os.path.join(tb, "dns", z + ".served")


def nsd_conf(tb, addr, zones, name="nsd"):
    lines = [
        "server:",
        "  ip-address: %s" % addr,
        "  port: 53",
        '  username: ""',
        '  chroot: ""',
        '  database: ""',
        "  zonesdir: %s" % os.path.join(tb, "dns"),
        "  pidfile: %s" % os.path.join(tb, name + ".pid"),
        "  xfrdfile: %s" % os.path.join(tb, name + ".xfrd.state"),
        "  zonelistfile: %s" % os.path.join(tb, name + ".zone.list"),
        "  logfile: %s" % os.path.join(tb, "log", name + ".log"),
        "  server-count: 1",
        "  verbosity: 1",
        "  hide-version: yes",
        "  do-ip6: no",
        # Bursts from one source address (the benchmark's cold run) must
        # not be rate limited into dropped answers.
        "  rrl-ratelimit: 0",
        "remote-control:",
        "  control-enable: no",
    ]
    for z, path in zones:
        lines += ["zone:", "  name: %s." % z, "  zonefile: %s" % path]
    return "\n".join(lines) + "\n"


def resolver_server_lines(tb):
    return [
        '  local-zone: "test." nodefault',
        "  do-not-query-localhost: no",
        "  trust-anchor-file: %s" % os.path.join(tb, "dns", "test.ta"),
        "  do-ip6: no",
    ]


def stub_lines(net):
    return ["stub-zone:", '  name: "test."', "  stub-addr: %s" % net["nsd"]]


def unbound_conf(tb, net):
    lines = [
        "server:",
        "  interface: %s" % net["unbound"],
        "  port: 53",
        '  username: ""',
        '  chroot: ""',
        "  directory: %s" % tb,
        "  pidfile: %s" % os.path.join(tb, "unbound.pid"),
        "  do-daemonize: no",
        "  use-syslog: no",
        "  logfile: %s" % os.path.join(tb, "log", "unbound.log"),
        "  verbosity: 1",
        "  val-log-level: 2",
        "  num-threads: 1",
        "  so-reuseport: no",
        "  access-control: 127.0.0.0/8 allow",
        "  module-config: \"validator iterator\"",
    ] + resolver_server_lines(tb) + stub_lines(net) + [
        "remote-control:",  # for ctl: flush the cache after a change
        "  control-enable: yes",
        "  control-interface: %s" % os.path.join(tb, "unbound.ctl"),
        "  control-use-cert: no",
    ]
    return "\n".join(lines) + "\n"


def libunbound_conf(tb, net):
    head = [
        "# libunbound configuration for the mxtls testbed: load with",
        "# ub_ctx_config(ctx, \"%s\")." % os.path.join(tb, "libunbound.conf"),
        "server:",
    ]
    return "\n".join(head + resolver_server_lines(tb) + stub_lines(net)) + "\n"


def dns_query(addr, qname, qtype=6, timeout=0.3):
    """dns_query - send one UDP query; return the RCODE or None on no answer."""
    qid = os.getpid() & 0xFFFF
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in qname.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.connect((addr, 53))  # connected: ICMP unreachable fails fast
            s.send(q)
            data = s.recv(4096)
        except OSError:
            return None
    if len(data) < 12 or struct.unpack(">H", data[:2])[0] != qid:
        return None
    return data[3] & 0x0F


def soa_serial(addr, zone):
    """soa_serial - the SOA serial ADDR serves for ZONE (no compression in
    our question; the answer's RDATA is read by skipping two names)."""
    qid = (os.getpid() + 1) & 0xFFFF
    q = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0)
    for label in zone.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", 6, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        try:
            s.connect((addr, 53))
            s.send(q)
            d = s.recv(4096)
        except OSError:
            return None
    if len(d) < 12 or struct.unpack(">H", d[:2])[0] != qid or struct.unpack(">H", d[6:8])[0] < 1:
        return None

    def skip_name(p):
        while True:
            n = d[p]
            if n == 0:
                return p + 1
            if n & 0xC0:
                return p + 2
            p += n + 1

    p = skip_name(12) + 4  # question
    p = skip_name(p) + 10  # answer owner, type, class, ttl, rdlength
    p = skip_name(skip_name(p))  # mname, rname
    return struct.unpack(">I", d[p:p + 4])[0]


# ---------------------------------------------------------------- HTTPS

POLICY_PAD = "# padding to make the policy body larger than a client may accept\n"


def policy_body(sc, dom, opts):
    lines = sc.policy.get(dom)
    if lines is None:
        lines = ["version: STSv1", "mode: enforce"]
        lines += ["mx: %s" % h for _, h in sorted(sc.mx.get(dom, []))]
        lines += ["max_age: 86400"]
    eol = "\r\n" if opts.get("eol") == "crlf" else "\n"
    body = eol.join(lines) + eol
    pad = int(opts.get("pad", 0))
    while len(body) < pad:
        body += POLICY_PAD
    return body


def nginx_conf(tb, sc, addrs, certs):
    user = "user root root;\n" if os.geteuid() == 0 else ""
    tmp = os.path.join(tb, "nginx")
    out = [
        user + "worker_processes 1;",
        "pid %s;" % os.path.join(tb, "nginx.pid"),
        "error_log %s info;" % os.path.join(tb, "log", "nginx-error.log"),
        "events { worker_connections 512; }",
        "http {",
        "  access_log %s;" % os.path.join(tb, "log", "nginx-access.log"),
        "  server_tokens off;",
        "  client_body_temp_path %s/body;" % tmp,
        "  proxy_temp_path %s/proxy;" % tmp,
        "  fastcgi_temp_path %s/fastcgi;" % tmp,
        "  uwsgi_temp_path %s/uwsgi;" % tmp,
        "  scgi_temp_path %s/scgi;" % tmp,
        "  types { }",
        "  default_type application/octet-stream;",
        "  ssl_protocols TLSv1.2 TLSv1.3;",
        "  server_names_hash_bucket_size 128;",
    ]
    for dom, o in sorted(sc.sts.items()):
        host = "mta-sts." + dom
        www = os.path.join(tb, "www", dom)
        os.makedirs(www, exist_ok=True)
        write(os.path.join(www, "mta-sts.txt"), policy_body(sc, dom, o))
        c = certs[host]
        loc = []
        for h in o.get("header", []):
            hn, _, hv = h.partition(":")
            loc.append("add_header %s %s always;" % (hn.strip(), json.dumps(hv.strip())))
        if "redirect" in o:
            loc.append("return %d %s;" % (int(o.get("status", 301)), o["redirect"]))
        elif int(o.get("status", 200)) != 200:
            loc.append("return %d;" % int(o["status"]))
        else:
            loc.append("types { } default_type %s;" % json.dumps(o.get("type", "text/plain")))
            loc.append("alias %s/mta-sts.txt;" % www)
            if "chunked" in o:
                # an active sub_filter drops Content-Length: the body goes chunked
                loc += ["sub_filter_types *;", "sub_filter_once off;",
                        "sub_filter 'mxtls-never-matches' '';"]
            if "rate" in o:
                loc.append("limit_rate %d;" % int(o["rate"]))
        out += [
            "  server {",
            "    listen %s:443 ssl;" % addrs[host],
            "    server_name %s;" % host,
            "    ssl_certificate %s;" % c["chain"],
            "    ssl_certificate_key %s;" % c["key"],
            "    location = /.well-known/mta-sts.txt { %s }" % " ".join(loc),
            "    location / { return 404; }",
            "  }",
        ]
    out.append("}")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- processes


def start(tb, name, argv):
    log = open(os.path.join(tb, "log", name + ".out"), "ab")
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                         start_new_session=True, close_fds=True)
    log.close()
    with open(os.path.join(tb, "pids"), "a") as f:
        f.write("%s %d\n" % (name, p.pid))
    return p


def wait_until(what, proc, ready):
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            die("%s exited with status %d during start-up" % (what, proc.returncode))
        if ready():
            return
        time.sleep(0.02)
    die("%s did not answer within %.0f s" % (what, DEADLINE))


def tcp_ready(addr, port):
    def probe():
        try:
            with socket.create_connection((addr, port), timeout=0.3):
                return True
        except OSError:
            return False
    return probe


def read_pids(tb):
    path = os.path.join(tb, "pids")
    out = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                name, pid = line.split()
                out.append((name, int(pid)))
    return out


def ours(tb, pid):
    """ours - is PID alive and still the process we started (its command
    line names a file in TB)? Guards against a recycled PID."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmd = f.read()
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and tb.encode() in cmd


def stop(tb):
    """stop - SIGTERM every recorded PID, wait up to 5 s, then SIGKILL."""
    pids = [(n, p) for n, p in read_pids(tb) if ours(tb, p)]
    for _, pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    left = pids
    while left and time.monotonic() < deadline:
        for _, pid in left:
            try:  # reap if it is our child (up failing half way)
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        left = [(n, p) for n, p in left if ours(tb, p)]
        if left:
            time.sleep(0.02)
    for name, pid in left:
        print("testbed: %s (pid %d) ignored SIGTERM; SIGKILL" % (name, pid), file=sys.stderr)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return [n for n, _ in left]


# ---------------------------------------------------------------- up


def generate(tb, sc, net, state):
    """generate - keys, certificates, zones and configuration files."""
    for d in ("ca", "ca/issued", "dns", "certs", "www", "log", "nginx", "smtp", "smtp/mail"):
        os.makedirs(os.path.join(tb, d), exist_ok=True)
    cadir = os.path.join(tb, "ca")
    write(os.path.join(cadir, "openssl.cnf"), OPENSSL_CNF.format(dir=cadir))
    write(os.path.join(cadir, "index.txt"), "")
    write(os.path.join(cadir, "serial"), "1000\n")
    addrs = allocate(sc, net)
    state["addrs"] = addrs

    zones = ["test"] + [z for z, zi in sc.zones.items() if zi["kind"] != "lame"]
    zdir = os.path.join(tb, "dns")

    def task(item):
        kind, arg = item
        if kind == "key":
            return ("key", arg, keygen(zdir, arg))
        if kind == "ca":
            return ("ca", arg, make_ca(cadir, arg, "mxtls testbed %s" % arg))
        name, ck = arg
        host, _, forged = name.partition("#")
        out = os.path.join(tb, "certs", host + (".forged" if forged else ""))
        days = sc.smtp[host].get("days", 365) if host in sc.smtp and not forged else 365
        return ("cert", name, make_cert(tb, host, ck, out, days))

    results = parallel(task, [("key", z) for z in zones] +
                       [("ca", "ca"), ("ca", "attacker-ca")])
    keys = {name: v for k, name, v in results if k == "key"}
    wanted = [(h, s["cert"]) for h, s in sc.smtp.items()]
    wanted += [(h + "#forged", s["forged"]) for h, s in sc.smtp.items() if s["mode"] == "forge"]
    wanted += [("mta-sts." + d, o.get("cert", "valid")) for d, o in sc.sts.items()]
    certs = {name: v for _, name, v in parallel(task, [("cert", w) for w in wanted])}
    state["certs"] = certs
    state["keys"] = keys
    write(os.path.join(zdir, "test.ta"), "test. IN DS %s\n" % keys["test"]["ds"])
    state["serial"] = int(time.time())
    served = build_dns(tb, sc, addrs, net, certs, keys, state["serial"])
    state["served"] = served
    write(os.path.join(tb, "nsd.conf"),
          nsd_conf(tb, net["nsd"], [(z, zonefile(tb, sc, z)) for z in served]))
    if any(zi["kind"] == "lame" for zi in sc.zones.values()):
        write(os.path.join(tb, "nsd-lame.conf"), nsd_conf(tb, net["lame"], [], "nsd-lame"))
    write(os.path.join(tb, "unbound.conf"), unbound_conf(tb, net))
    write(os.path.join(tb, "libunbound.conf"), libunbound_conf(tb, net))
    write(os.path.join(tb, "resolv.conf"), "nameserver %s\noptions edns0 trust-ad\n"
          % net["unbound"])
    if sc.sts:
        write(os.path.join(tb, "nginx.conf"), nginx_conf(tb, sc, addrs, certs))
    peers = []
    for h, s in sorted(sc.smtp.items()):
        c = certs[h + "#forged" if s["mode"] == "forge" else h]
        peers.append({"host": h, "addr": addrs[h], "port": 25, "mode": s["mode"],
                      "cert": c["chain" if s["chain"] == "full" else "cert"], "key": c["key"]})
    with open(os.path.join(tb, "smtp", "peers.json"), "w") as f:
        json.dump({"dir": os.path.join(tb, "smtp"), "peers": peers}, f, indent=1)
    hosts = ["%s %s %s" % (n, a, "https" if n.startswith("mta-sts.") and
                           n[8:] in sc.sts else
                           ("smtp-" + sc.smtp[n]["mode"] if n in sc.smtp else "host"))
             for n, a in sorted(addrs.items())]
    write(os.path.join(tb, "hosts.txt"), "\n".join(hosts) + "\n")


def port_free(addr, port, kind):
    with socket.socket(socket.AF_INET, kind) as s:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((addr, port))
        except OSError:
            return False
    return True


def preflight(sc, net, addrs):
    """preflight - every address and port we are about to use is free, so a
    probe cannot be answered by someone else's server (another testbed)."""
    want = [(net["nsd"], 53), (net["unbound"], 53)]
    if any(zi["kind"] == "lame" for zi in sc.zones.values()):
        want.append((net["lame"], 53))
    busy = [(a, p) for a, p in want
            if not port_free(a, p, socket.SOCK_DGRAM) or not port_free(a, p, socket.SOCK_STREAM)]
    want = [(addrs["mta-sts." + d], 443) for d in sc.sts] + [(addrs[h], 25) for h in sc.smtp]
    busy += [(a, p) for a, p in want if not port_free(a, p, socket.SOCK_STREAM)]
    if busy:
        die("in use already: %s (another testbed? try --slot)"
            % ", ".join("%s:%d" % b for b in busy[:5]))


def launch(tb, sc, net, state):
    preflight(sc, net, state["addrs"])
    if os.path.exists(os.path.join(tb, "nsd-lame.conf")):
        p = start(tb, "nsd-lame", ["nsd", "-d", "-c", os.path.join(tb, "nsd-lame.conf")])
        wait_until("nsd-lame", p, lambda: dns_query(net["lame"], "test") is not None)
    p = start(tb, "nsd", ["nsd", "-d", "-c", os.path.join(tb, "nsd.conf")])
    wait_until("nsd", p, lambda: dns_query(net["nsd"], "test") == 0)
    p = start(tb, "unbound", ["unbound", "-d", "-c", os.path.join(tb, "unbound.conf")])
    wait_until("unbound", p, lambda: dns_query(net["unbound"], "test", timeout=1) == 0)
    if sc.sts:
        p = start(tb, "nginx", ["nginx", "-p", tb + "/", "-e",
                                os.path.join(tb, "log", "nginx-error.log"), "-c",
                                os.path.join(tb, "nginx.conf"), "-g", "daemon off;"])
        for d in sc.sts:
            wait_until("nginx (mta-sts.%s)" % d, p,
                       tcp_ready(state["addrs"]["mta-sts." + d], 443))
    if sc.smtp:
        ready = os.path.join(tb, "smtp", "ready")
        p = start(tb, "smtp-peer", [sys.executable, SMTP_PEER,
                                    os.path.join(tb, "smtp", "peers.json")])
        wait_until("smtp peers", p, lambda: os.path.exists(ready))
    for name, pid in read_pids(tb):  # answered, and still ours
        if not ours(tb, pid):
            die("%s (pid %d) exited after start-up; see %s/log" % (name, pid, tb))


def env_text(tb, net, slot):
    env = [
        ("TESTBED_DIR", tb),
        ("TESTBED_SLOT", str(slot)),
        ("TESTBED_NSD_ADDR", net["nsd"]),
        ("TESTBED_UNBOUND_ADDR", net["unbound"]),
        ("TESTBED_UNBOUND_CONF", os.path.join(tb, "libunbound.conf")),
        ("TESTBED_TRUST_ANCHOR", os.path.join(tb, "dns", "test.ta")),
        ("TESTBED_RESOLV_CONF", os.path.join(tb, "resolv.conf")),
        ("TESTBED_CA", os.path.join(tb, "ca", "ca.pem")),
        ("TESTBED_ATTACKER_CA", os.path.join(tb, "ca", "attacker-ca.pem")),
        ("TESTBED_HOSTS", os.path.join(tb, "hosts.txt")),
        ("TESTBED_SMTP_LOG", os.path.join(tb, "smtp", "log.jsonl")),
        ("TESTBED_MAIL_DIR", os.path.join(tb, "smtp", "mail")),
    ]
    return "".join("%s=%s\n" % (k, shlex.quote(v)) for k, v in env)


def cmd_up(args):
    import argparse
    ap = argparse.ArgumentParser(prog="up", description="bring a testbed scenario up")
    ap.add_argument("scenario")
    ap.add_argument("--dir", help="use this (new or empty) directory instead of a fresh one")
    ap.add_argument("--slot", type=int, default=int(os.environ.get("TESTBED_SLOT", "0")),
                    help="0-9: address block, so testbeds can run side by side")
    ap.add_argument("--env", help="also write the environment file here")
    ap.add_argument("--quiet", action="store_true", help="do not print the environment")
    a = ap.parse_args(args)
    if not 0 <= a.slot <= 63:
        die("--slot must be 0..63")
    sc = Scenario.load(a.scenario)
    if a.dir:
        os.makedirs(a.dir, exist_ok=True)
        if os.listdir(a.dir):
            die("%s is not empty" % a.dir)
        tb = os.path.abspath(a.dir)
    else:
        tb = tempfile.mkdtemp(prefix="mxtls-testbed-")
    os.chmod(tb, 0o755)
    net = slot_addrs(a.slot)
    state = {"scenario": os.path.abspath(a.scenario), "slot": a.slot}
    t0 = time.monotonic()
    try:
        shutil.copy(a.scenario, os.path.join(tb, "scenario.scn"))
        generate(tb, sc, net, state)
        t1 = time.monotonic()
        launch(tb, sc, net, state)
    except BaseException as e:
        stop(tb)
        if isinstance(e, TestbedError):
            die("%s (directory %s kept for inspection)" % (e, tb))
        raise
    t2 = time.monotonic()
    with open(os.path.join(tb, "state.json"), "w") as f:
        json.dump(state, f, indent=1)
    env = env_text(tb, net, a.slot)
    write(os.path.join(tb, "testbed.env"), env)
    if a.env:
        write(a.env, env)
    if not a.quiet:
        sys.stdout.write(env)
    print("testbed: up in %.2f s (generate %.2f s, start %.2f s): %s"
          % (t2 - t0, t1 - t0, t2 - t1, tb), file=sys.stderr)


def cmd_down(args):
    import argparse
    ap = argparse.ArgumentParser(prog="down", description="stop a testbed, remove its directory")
    ap.add_argument("dir")
    ap.add_argument("--keep", action="store_true", help="keep the directory (logs, mail)")
    a = ap.parse_args(args)
    tb = os.path.abspath(a.dir)
    if not os.path.exists(os.path.join(tb, "pids")) and not os.path.exists(
            os.path.join(tb, "scenario.scn")):
        die("%s does not look like a testbed directory" % tb)
    killed = stop(tb)
    if not a.keep:
        shutil.rmtree(tb, ignore_errors=True)
    if killed:
        sys.exit(1)


# ---------------------------------------------------------------- ctl


def load_state(tb):
    with open(os.path.join(tb, "state.json")) as f:
        return json.load(f)


def pid_of(tb, name):
    for n, p in read_pids(tb):
        if n == name and ours(tb, p):
            return p
    return None


def hup(tb, name):
    pid = pid_of(tb, name)
    if pid:
        os.kill(pid, signal.SIGHUP)


def redo_dns(tb, sc, state):
    net = slot_addrs(state["slot"])
    addrs = allocate(sc, net)
    if addrs != state["addrs"]:
        die("reload cannot move or add hosts (addresses changed); bring a new testbed up")
    zones = sorted(["test"] + [z for z, zi in sc.zones.items() if zi["kind"] != "lame"])
    if zones != sorted(state["served"]):
        die("reload cannot add or remove served zones; bring a new testbed up")
    state["serial"] = max(int(time.time()), state["serial"] + 1)
    build_dns(tb, sc, addrs, net, state["certs"], state["keys"], state["serial"])
    hup(tb, "nsd")


def wait_reloaded(tb, state):
    """wait_reloaded - wait until NSD serves the new SOA serial, then flush
    the testbed unbound's cache so clients see the change at once."""
    net = slot_addrs(state["slot"])
    with open(os.path.join(tb, "dns", "test.zone")) as f:
        serial = int(f.read().split("SOA", 1)[1].split()[2])
    wait_until("nsd reload", None, lambda: soa_serial(net["nsd"], "test") == serial)
    conf = os.path.join(tb, "unbound.conf")
    for cmd in (["flush_zone", "test."], ["flush_bogus"], ["flush_negative"],
                ["flush_infra", "all"]):
        run(["unbound-control", "-c", conf] + cmd)


def cmd_ctl(args):
    if len(args) < 2:
        die("usage: ctl DIR reload [SCENARIO] | rotate HOST [--no-dns] | status")
    tb, verb, rest = os.path.abspath(args[0]), args[1], args[2:]
    state = load_state(tb)
    if verb == "status":
        for n, p in read_pids(tb):
            print("%s %d %s" % (n, p, "running" if ours(tb, p) else "gone"))
    elif verb == "reload":
        scn = os.path.join(tb, "scenario.scn")
        if rest:
            shutil.copy(rest[0], scn)
        redo_dns(tb, Scenario.load(scn), state)
        wait_reloaded(tb, state)
    elif verb == "rotate":
        host = norm(rest[0])
        if host not in state["certs"]:
            die("no certificate for %s" % host)
        sc = Scenario.load(os.path.join(tb, "scenario.scn"))
        if host in sc.smtp:
            kind = sc.smtp[host]["cert"]
        else:
            kind = sc.sts[host[len("mta-sts."):]].get("cert", "valid")
        make_cert(tb, host, kind, os.path.join(tb, "certs", host),
                  sc.smtp[host].get("days", 365) if host in sc.smtp else 365)
        if "--no-dns" not in rest:  # --no-dns: the operator forgot the TLSA
            redo_dns(tb, sc, state)
        hup(tb, "smtp-peer" if host in sc.smtp else "nginx")
        wait_reloaded(tb, state)
    else:
        die("ctl: unknown command %r" % verb)
    with open(os.path.join(tb, "state.json"), "w") as f:
        json.dump(state, f, indent=1)


def main():
    cmds = {"up": cmd_up, "down": cmd_down, "ctl": cmd_ctl}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    try:
        cmds[sys.argv[1]](sys.argv[2:])
    except TestbedError as e:
        print("testbed: %s" % e, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
