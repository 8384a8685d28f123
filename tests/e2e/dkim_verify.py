#!/usr/bin/env python3
"""dkim_verify.py MESSAGE PUBKEY.pem - verify the first DKIM-Signature of a
message (RFC 6376: rsa-sha256, relaxed/relaxed) with the given public key,
independently of libopendkim (Python's hashlib and the cryptography
package). Exit 0 when the body hash and the signature verify."""
import base64, hashlib, re, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

raw = open(sys.argv[1], 'rb').read().replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')
head, _, body = raw.partition(b'\r\n\r\n')
fields = []  # (name, full field text with CRLF-folded continuations)
for line in head.split(b'\r\n'):
    if line[:1] in (b' ', b'\t') and fields:
        fields[-1] = (fields[-1][0], fields[-1][1] + b'\r\n' + line)
    else:
        fields.append((line.split(b':', 1)[0], line))
sig = next(f for n, f in fields if n.lower() == b'dkim-signature')
tags = {}
for part in sig.split(b':', 1)[1].split(b';'):
    if b'=' in part:
        k, v = part.split(b'=', 1)
        tags[k.strip().decode()] = re.sub(rb'\s+', b'', v)
assert tags['a'] == b'rsa-sha256', tags['a']
assert tags.get('c', b'simple/simple') == b'relaxed/relaxed', tags.get('c')

def relax_header(f):  # RFC 6376 §3.4.2
    name, value = f.split(b':', 1)
    value = re.sub(rb'\r\n(?=[ \t])', b'', value)
    value = re.sub(rb'[ \t]+', b' ', value).strip(b' \t')
    return name.strip().lower() + b':' + value

def relax_body(b):  # RFC 6376 §3.4.4
    lines = [re.sub(rb'[ \t]+', b' ', l).rstrip(b' \t') for l in b.split(b'\r\n')]
    out = b'\r\n'.join(lines)
    out = re.sub(rb'(\r\n)*$', b'', out)
    return out + b'\r\n' if out else b''

bh = base64.b64encode(hashlib.sha256(relax_body(body)).digest())
if bh != tags['bh']:
    sys.exit('body hash mismatch')
signed = b''
used = {}
for h in tags['h'].split(b':'):
    cands = [f for n, f in fields if n.lower() == h.lower()]
    i = used.get(h.lower(), 0)
    if i < len(cands):  # bottom-up (§5.4.2)
        signed += relax_header(cands[-1 - i]) + b'\r\n'
        used[h.lower()] = i + 1
signed += re.sub(rb'b=[^;]*', b'b=', relax_header(sig), count=1)
key = serialization.load_pem_public_key(open(sys.argv[2], 'rb').read())
key.verify(base64.b64decode(tags['b']), signed, padding.PKCS1v15(), hashes.SHA256())
print('dkim: pass (d=%s s=%s)' % (tags['d'].decode(), tags['s'].decode()))
