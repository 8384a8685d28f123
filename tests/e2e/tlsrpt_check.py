#!/usr/bin/env python3
"""tlsrpt_check.py - checks on delivered TLS reports for tlsrpt_e2e.sh.

  json FILE.json[.gz]       RFC 8460 §4.4: every required member with its type,
                            date-range in UTC (Z), counts non-negative integers,
                            policy-domain in every policy; prints
                            "DOMAIN|RESULT,RESULT|SUCCESSES" (results sorted)
  mail FILE.eml OUT.json.gz RFC 8460 §5.3 structure: multipart/report;
                            report-type="tlsrpt", TLS-Report-Domain,
                            TLS-Report-Submitter, the Subject, TLS-Required: No,
                            one application/tlsrpt+gzip part named *.json.gz
                            (written to OUT); prints the report domain
"""
import email, email.policy, gzip, json, re, sys

def fail(msg):
    sys.exit('tlsrpt_check: ' + msg)

UTC = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$')
RESULTS = {'starttls-not-supported', 'certificate-host-mismatch', 'certificate-expired',
           'certificate-not-trusted', 'validation-failure', 'tlsa-invalid', 'dnssec-invalid',
           'dane-required', 'sts-policy-fetch-error', 'sts-policy-invalid', 'sts-webpki-invalid'}

def check_json(path):
    raw = open(path, 'rb').read()
    if raw[:2] == b'\x1f\x8b':
        raw = gzip.decompress(raw)
    r = json.loads(raw)
    for k in ('organization-name', 'contact-info', 'report-id'):
        if not isinstance(r.get(k), str) or not r[k]:
            fail('%s: %s missing or not a string' % (path, k))
    dr = r.get('date-range')
    if not isinstance(dr, dict) or not all(UTC.match(dr.get(k, '')) for k in
                                           ('start-datetime', 'end-datetime')):
        fail('%s: date-range not in UTC: %r' % (path, dr))
    pols = r.get('policies')
    if not isinstance(pols, list) or not pols:
        fail('%s: policies missing' % path)
    domains, results, ok = set(), set(), 0
    for p in pols:
        pol, summ = p.get('policy'), p.get('summary')
        if not isinstance(pol, dict) or pol.get('policy-type') not in ('sts', 'tlsa',
                                                                       'no-policy-found'):
            fail('%s: policy-type: %r' % (path, pol))
        if not isinstance(pol.get('policy-domain'), str) or not pol['policy-domain']:
            fail('%s: policy-domain missing (sys4 #51)' % path)
        for k in ('policy-string', 'mx-host'):
            if k in pol and not (isinstance(pol[k], list) and
                                 all(isinstance(s, str) for s in pol[k])):
                fail('%s: %s is not a list of strings' % (path, k))
        domains.add(pol['policy-domain'])
        for k in ('total-successful-session-count', 'total-failure-session-count'):
            if not isinstance(summ.get(k), int) or isinstance(summ[k], bool) or summ[k] < 0:
                fail('%s: summary %s' % (path, k))
        ok += summ['total-successful-session-count']
        total = 0
        for d in p.get('failure-details', []):
            if d.get('result-type') not in RESULTS:
                fail('%s: result-type %r' % (path, d.get('result-type')))
            n = d.get('failed-session-count')
            if not isinstance(n, int) or n < 1:
                fail('%s: failed-session-count %r' % (path, n))
            total += n
            results.add(d['result-type'])
        if total != summ['total-failure-session-count']:
            fail('%s: failure details sum %d != summary %d' %
                 (path, total, summ['total-failure-session-count']))
    if len(domains) != 1:
        fail('%s: one policy domain per report, got %r' % (path, domains))
    print('%s|%s|%d' % (domains.pop(), ','.join(sorted(results)) or '-', ok))

def check_mail(path, out):
    m = email.message_from_binary_file(open(path, 'rb'), policy=email.policy.default)
    if m.get_content_type() != 'multipart/report' or m.get_param('report-type') != 'tlsrpt':
        fail('%s: Content-Type %s' % (path, m['Content-Type']))
    dom, sub = m['TLS-Report-Domain'], m['TLS-Report-Submitter']
    if not dom or not sub:
        fail('%s: TLS-Report-Domain / TLS-Report-Submitter missing' % path)
    if not re.match(r'^Report Domain: %s Submitter: %s Report-ID: <.+>$' %
                    (re.escape(dom), re.escape(sub)), str(m['Subject'])):
        fail('%s: Subject %r' % (path, m['Subject']))
    if str(m['TLS-Required']).strip().lower() != 'no':
        fail('%s: TLS-Required: No missing (RFC 8689)' % path)
    parts = [p for p in m.iter_parts() if p.get_content_type() == 'application/tlsrpt+gzip']
    if len(parts) != 1 or not parts[0].get_filename('').endswith('.json.gz'):
        fail('%s: no single application/tlsrpt+gzip part named *.json.gz' % path)
    open(out, 'wb').write(parts[0].get_content())
    print(dom)

if sys.argv[1] == 'json':
    check_json(sys.argv[2])
elif sys.argv[1] == 'mail':
    check_mail(sys.argv[2], sys.argv[3])
else:
    fail('usage')
