#!/usr/bin/python3
"""ub_check - resolve names with libunbound loaded from a configuration file,
as mxtlsd does, and check the DNSSEC verdict of each answer.

Usage: ub_check.py CONF NAME=secure|insecure|bogus [RRTYPE default MX]...
Exit 0 when every verdict is as expected, 1 otherwise. Uses ctypes and the
libunbound8 shared library (installed with unbound): no build step.
"""

import ctypes
import ctypes.util
import sys


class UbResult(ctypes.Structure):
    # struct ub_result, libunbound/unbound.h
    _fields_ = [
        ("qname", ctypes.c_char_p),
        ("qtype", ctypes.c_int),
        ("qclass", ctypes.c_int),
        ("data", ctypes.POINTER(ctypes.c_char_p)),
        ("len", ctypes.POINTER(ctypes.c_int)),
        ("canonname", ctypes.c_char_p),
        ("rcode", ctypes.c_int),
        ("answer_packet", ctypes.c_void_p),
        ("answer_len", ctypes.c_int),
        ("havedata", ctypes.c_int),
        ("nxdomain", ctypes.c_int),
        ("secure", ctypes.c_int),
        ("bogus", ctypes.c_int),
        ("why_bogus", ctypes.c_char_p),
        ("was_ratelimited", ctypes.c_int),
        ("ttl", ctypes.c_int),
    ]


TYPES = {"A": 1, "MX": 15, "TXT": 16, "TLSA": 52}


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    lib = ctypes.CDLL(ctypes.util.find_library("unbound") or "libunbound.so.8")
    lib.ub_ctx_create.restype = ctypes.c_void_p
    lib.ub_ctx_config.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.ub_resolve.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int,
                               ctypes.POINTER(ctypes.POINTER(UbResult))]
    lib.ub_strerror.restype = ctypes.c_char_p
    lib.ub_resolve_free.argtypes = [ctypes.POINTER(UbResult)]
    lib.ub_ctx_delete.argtypes = [ctypes.c_void_p]
    ctx = lib.ub_ctx_create()
    err = lib.ub_ctx_config(ctx, sys.argv[1].encode())
    if err:
        print("ub_ctx_config: %s" % lib.ub_strerror(err).decode())
        return 1
    bad = 0
    for arg in sys.argv[2:]:
        name, want = arg.split("=")
        qtype = "MX"
        if ":" in want:
            want, qtype = want.split(":")
        res = ctypes.POINTER(UbResult)()
        err = lib.ub_resolve(ctx, name.encode(), TYPES[qtype], 1, ctypes.byref(res))
        if err:
            print("%s: ub_resolve: %s" % (name, lib.ub_strerror(err).decode()))
            bad += 1
            continue
        r = res.contents
        got = "bogus" if r.bogus else "secure" if r.secure else "insecure"
        why = (" (%s)" % r.why_bogus.decode()) if r.why_bogus else ""
        ok = got == want and (got == "bogus" or r.havedata)
        print("%s %s %s: %s rcode=%d havedata=%d%s" % ("ok" if ok else "NOT OK", name, qtype,
                                                        got, r.rcode, r.havedata, why))
        bad += not ok
        lib.ub_resolve_free(res)
    lib.ub_ctx_delete(ctx)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
