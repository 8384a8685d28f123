#!/bin/bash
# tlsrpt_html.sh - `mxtls tlsrpt html` (issue 13): one self-contained page,
# rendered in headless Chromium, whose figures equal the store's.
# No testbed, no network.
#
#   tlsrpt_html.sh MXTLS
#
# Asserts:
#   - the page is self-contained: no <script>, no element or CSS that loads
#     anything (src=, href=, url(, @import), inline <style> and <svg> only;
#   - Chromium (Debian's chromium, headless) renders it: --dump-dom gives the
#     DOM, and in it the overview row of every (policy domain, policy type)
#     and, per detailed section (the --top N by failed sessions), the successful
#     and failed session counts, every failure type, every organisation, every
#     MX host and every day's figures (data-days and hover titles) equal `mxtls tlsrpt summary --json` over the
#     same store (which tlsrpt_ingest.sh checks against the reports);
#   - --domain limits the page to that domain; an empty store gives a page
#     that says so;
#   - --screenshot gives a PNG, kept as $TLSRPT_OUT/tlsrpt.png (default
#     tests/integration/out/) for a person to look at.
set -uo pipefail
MXTLS=${1:?usage: tlsrpt_html.sh MXTLS}
MXTLS=$(realpath "$MXTLS") || exit 1
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=$HERE/tlsrpt
OUT=${TLSRPT_OUT:-$HERE/out}
CHROMIUM=$(command -v chromium || command -v chromium-browser) || {
    echo "tlsrpt_html.sh: chromium is missing (scripts/deps test)" >&2
    exit 1
}
T=$(mktemp -d /tmp/tlsrpt_html.XXXXXX)
trap 'rm -rf "$T"' EXIT
DB=$T/reports.db
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# chromium ARGS... - headless, as the machine notes say works as root, with a
# fresh profile; no network (file:// only)
chromium_run() {
    rm -rf "$T/profile"
    timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$T/profile" "$@" 2>"$T/chromium.err"
}

"$MXTLS" tlsrpt ingest --db "$DB" "$DATA"/sts-two-failures.json "$DATA"/tlsa-policy-string-json.json \
    "$DATA"/mismatch-prefix-emptyip.json "$DATA"/no-policy-found.json "$DATA"/named.json.gz \
    "$DATA"/email-tlsrpt-gzip.eml "$DATA"/email-json-attachment.eml || fail "ingest exit $?"
"$MXTLS" tlsrpt summary --db "$DB" --json >"$T/sum.json" || fail "summary exit $?"
"$MXTLS" tlsrpt html --db "$DB" >"$T/report.html" || fail "html exit $?"

# 1. self-contained
if grep -qiE '<script|src=|href=|url\(|@import|<link|<iframe|<object|<embed' "$T/report.html"; then
    fail "the page loads something: $(grep -oiE '<script|src=|href=|url\(|@import|<link|<iframe|<object|<embed' "$T/report.html" | sort -u | tr '\n' ' ')"
else
    ok "self-contained: no script, no external resource"
fi
grep -q '<style>' "$T/report.html" && grep -q '<svg' "$T/report.html" && ok "inline CSS and SVG" || fail "no inline CSS/SVG"

# 2. rendered DOM equals the store
chromium_run --dump-dom "file://$T/report.html" >"$T/dom.html"
[ -s "$T/dom.html" ] && ok "chromium --dump-dom" || fail "dump-dom empty: $(tail -3 "$T/chromium.err")"
cat >"$T/domcheck.py" <<'EOF'
import json, sys
from html.parser import HTMLParser

class Dom(HTMLParser):
    """Collect, per section, the figures the page shows."""
    def __init__(self):
        super().__init__()
        self.sections, self.cur, self.key, self.row, self.cells, self.text = [], None, None, None, [], None
        self.in_title = False
        self.overview, self.orow = {}, None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and self.cur is None and "data-policy-domain" in a:
            self.orow, self.cells = (a["data-policy-domain"], a["data-policy-type"]), []
        if tag == "td" and self.orow is not None:
            self.text = ""
        if tag == "section" and "data-policy-domain" in a:
            self.cur = {"domain": a["data-policy-domain"], "type": a["data-policy-type"],
                        "k": {}, "ft": {}, "org": {}, "mx": {}, "days": {}}
            self.sections.append(self.cur)
        if self.cur is None:
            return
        if tag == "dd" and "data-k" in a:
            self.key, self.text = a["data-k"], ""
        if tag == "tr" and any(k in a for k in ("data-result-type", "data-org", "data-mx")):
            self.row, self.cells = next((k, v) for k, v in a.items() if k.startswith("data-")), []
        if tag == "td" and self.row is not None:
            self.text = ""
        if tag == "svg" and "data-days" in a:
            for day in filter(None, a["data-days"].split(";")):
                date, ok, bad = day.split(",")
                self.cur["days"][date] = (int(ok), int(bad))
        if tag == "title":
            self.in_title, self.text = True, ""
    def handle_data(self, d):
        if self.text is not None:
            self.text += d
    def handle_endtag(self, tag):
        if self.cur is None and self.orow is not None:
            if tag == "td":
                self.cells.append(self.text.strip())
                self.text = None
            elif tag == "tr":
                self.overview[self.orow] = (int(self.cells[2]), int(self.cells[3]))
                self.orow = None
        if self.cur is None:
            return
        if tag == "dd" and self.key:
            self.cur["k"][self.key] = int(self.text)
            self.key, self.text = None, None
        elif tag == "td" and self.row is not None:
            self.cells.append(self.text.strip())
            self.text = None
        elif tag == "tr" and self.row is not None:
            kind, name = self.row
            if kind == "data-result-type":
                self.cur["ft"][name] = int(self.cells[1])
            elif kind == "data-org":
                self.cur["org"][name] = (int(self.cells[1]), int(self.cells[2]))
            else:
                self.cur["mx"][name] = int(self.cells[1])
            self.row = None
        elif tag == "title" and self.in_title:
            # hover titles "2026-11-20: 940 successful, 12 failed" must agree too
            day, rest = self.text.split(": ", 1)
            ok, bad = rest.split(", ")
            self.cur.setdefault("titles", {})[day] = (int(ok.split()[0]), int(bad.split()[0]))
            self.in_title, self.text = False, None
        elif tag == "section":
            self.cur = None

dom = Dom()
dom.feed(open(sys.argv[1]).read())
s = json.load(open(sys.argv[2]))
top = int(sys.argv[3])
# the overview: every (domain, type) with its totals
assert dom.overview == {(e["policy_domain"], e["policy_type"]): (e["total_successful_session_count"],
                        e["total_failure_session_count"]) for e in s["policy_domains"]}, dom.overview
# the sections: the top ones by failed sessions, most first
ranked = sorted(s["policy_domains"], key=lambda e: -e["total_failure_session_count"])[:top]
want = [(e["policy_domain"], e["policy_type"]) for e in ranked]
got = [(x["domain"], x["type"]) for x in dom.sections]
assert got == want, (got, want)
for e, x in zip(ranked, dom.sections):
    assert x["k"]["total_successful_session_count"] == e["total_successful_session_count"], (x, e)
    assert x["k"]["total_failure_session_count"] == e["total_failure_session_count"], (x, e)
    assert x["k"]["reports"] == e["reports"], (x, e)
    assert x["ft"] == e["failure_types"], (x["ft"], e["failure_types"])
    assert x["org"] == {o["organization_name"]: (o["successful"], o["failed"]) for o in e["organizations"]}, x["org"]
    assert x["mx"] == {m["receiving_mx_hostname"]: m["failed_session_count"] for m in e["mx_hosts"]}, x["mx"]
    assert x["days"] == {d["date"]: (d["successful"], d["failed"]) for d in e["days"]}, x["days"]
    assert x.get("titles") == (x["days"] if len(x["days"]) <= 92 else None), x.get("titles")
# and the figures are the ones the reports hold (not just self-consistent)
one = dom.sections[0]
assert one["k"]["total_successful_session_count"] == 2440 and one["k"]["total_failure_session_count"] == 24, one
assert one["ft"]["certificate-expired"] == 9 and one["mx"]["mx2.rcpt-one.example"] == 17, one
EOF
python3 "$T/domcheck.py" "$T/dom.html" "$T/sum.json" 50 && ok "DOM figures equal summary --json" || fail "DOM figures differ"
"$MXTLS" tlsrpt html --db "$DB" --top 1 >"$T/top1.html" || fail "html --top 1 exit $?"
chromium_run --dump-dom "file://$T/top1.html" >"$T/dom1.html"
python3 "$T/domcheck.py" "$T/dom1.html" "$T/sum.json" 1 &&
    ok "--top 1: every domain in the overview, the one with most failures in detail" || fail "--top 1"

# 3. screenshot
mkdir -p "$OUT"
chromium_run --window-size=1000,1400 --screenshot="$OUT/tlsrpt.png" "file://$T/report.html" >/dev/null
if [ -s "$OUT/tlsrpt.png" ] && [ "$(head -c 8 "$OUT/tlsrpt.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] &&
    [ "$(stat -c %s "$OUT/tlsrpt.png")" -gt 20000 ]; then
    ok "screenshot $OUT/tlsrpt.png ($(stat -c %s "$OUT/tlsrpt.png") octets)"
else
    fail "screenshot: $(tail -3 "$T/chromium.err")"
fi

# 4. --domain, and an empty store
"$MXTLS" tlsrpt html --db "$DB" --domain rcpt-two.example >"$T/two.html" &&
    [ "$(grep -c '<section class="domain"' "$T/two.html")" = 1 ] &&
    grep -q 'data-policy-domain="rcpt-two.example"' "$T/two.html" && ok "--domain: one section" || fail "--domain"
"$MXTLS" tlsrpt html --db "$T/empty.db" >"$T/empty.html" && grep -q 'No reports stored' "$T/empty.html" &&
    ok "empty store: says so" || fail "empty store"

[ "$fails" = 0 ] && echo "tlsrpt_html.sh: all passed" || echo "tlsrpt_html.sh: $fails failed"
[ "$fails" = 0 ]
