#!/usr/bin/env python3
"""jcheck.py JSON SPEC - check facts in an explain reply (mxtlsd_lib.sh jcheck).

SPEC is "PATH=VALUE; PATH~VALUE; ...": PATH is a dotted path into the JSON
(list indexes are numbers; [NAME] picks the list element whose "name" is
NAME; {PREFIX} the element whose "record" starts with PREFIX); "=" compares
the value as text, "~" wants VALUE as a substring. Prints one line per failed
item and nothing when every item holds; exits 0 either way.
"""
import json, re, sys
try:
    doc = json.loads(sys.argv[1])
except ValueError as e:
    print("not JSON: %s" % e)
    sys.exit(0)
for item in sys.argv[2].split(";"):
    item = item.strip()
    if not item:
        continue
    eq, ti = item.find("="), item.find("~")
    op = "~" if ti >= 0 and (eq < 0 or ti < eq) else "="
    path, want = item.split(op, 1)
    node = doc
    try:
        for key, name, prefix in re.findall(r"([^.\[\]{}]+)|\[([^\]]+)\]|\{([^}]+)\}", path):
            if name:  # [NAME]: the list element whose "name" is NAME
                node = [e for e in node if e.get("name") == name][0]
            elif prefix:  # {PREFIX}: the element whose "record" starts with PREFIX
                node = [e for e in node if e.get("record", "").startswith(prefix)][0]
            elif isinstance(node, list):
                node = node[int(key)]
            else:
                node = node[key]
    except (KeyError, IndexError, ValueError, TypeError, AttributeError):
        print("%s: missing" % path)
        continue
    got = json.dumps(node) if isinstance(node, bool) else str(node)
    got = got.strip()
    if (op == "=" and got != want) or (op == "~" and want not in got):
        print("%s: got %r, want %s%r" % (path, got, op, want))
