/*
 * dkim_verify - DKIM verification of an emailed TLS report with libopendkim
 * (see dkim_verify.h).
 *
 * libopendkim is given the whole message with dkim_chunk (bare LF line ends
 * fixed to CRLF by DKIM_LIBFLAGS_FIXCRLF) and asks our key lookup callback
 * for each signature's key; the callback asks the caller's dkim_key_fn and
 * remembers what it said, so a missing or unreachable key is reported with
 * the resolver's reason. Failure: every outcome a message can cause is a
 * verdict; only libopendkim's own failure to start is an error.
 */
#include <opendkim/dkim.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dkim_verify.h"

#define LOOKUPS_MAX 8 /* key lookups remembered per message (one per signature) */

struct lookup_note {
    char qname[2 * DKIM_NAME_BUF + 16];
    char domain[DKIM_NAME_BUF], selector[DKIM_NAME_BUF];
    enum dkim_key_status status;
    char why[256];
};

struct dkim_verifier {
    DKIM_LIB *lib;
    dkim_key_fn lookup;
    void *arg;
    struct lookup_note notes[LOOKUPS_MAX]; /* of the message being verified */
    size_t n_notes;
};

/* dkim_verdict_name - RFC 8601 §2.7.1 result names */
const char *dkim_verdict_name(enum dkim_verdict r)
{
    switch (r) {
    case DKIM_V_PASS:
        return "pass";
    case DKIM_V_FAIL:
        return "fail";
    case DKIM_V_TEMPERROR:
        return "temperror";
    case DKIM_V_PERMERROR:
        return "permerror";
    default:
        return "none";
    }
}

/* is_wsp - RFC 5234 WSP, or a line end inside a folded tag-list */
static bool is_wsp(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* trim - (s, n) without leading and trailing white space */
static void trim(const char **s, size_t *n)
{
    while (*n > 0 && is_wsp(**s))
        (*s)++, (*n)--;
    while (*n > 0 && is_wsp((*s)[*n - 1]))
        (*n)--;
}

/* lists_tlsrpt - the colon-separated service types (s, n) include "tlsrpt" */
static bool lists_tlsrpt(const char *s, size_t n)
{
    while (n > 0) {
        const char *colon = memchr(s, ':', n);
        size_t len = colon != NULL ? (size_t)(colon - s) : n;
        const char *t = s;
        size_t tn = len;

        trim(&t, &tn);
        if (tn == 6 && strncasecmp(t, "tlsrpt", 6) == 0)
            return true;
        if (colon == NULL)
            break;
        s += len + 1;
        n -= len + 1;
    }
    return false;
}

/*
 * service_fix - RFC 8460 §3: a key record whose s= (RFC 6376 §3.6.1, a
 * colon-separated list of service types) names "tlsrpt" is good for TLS
 * reports; libopendkim takes only "email" and "*", so such an s= is
 * rewritten to "*" in (rec) in place. Other records are left alone.
 */
static void service_fix(char *rec)
{
    char *p = rec;

    while (*p != '\0') {
        char *semi = strchr(p, ';'), *eq;
        size_t len = semi != NULL ? (size_t)(semi - p) : strlen(p);
        const char *name = p;
        size_t nn;

        eq = memchr(p, '=', len);
        if (eq != NULL) {
            nn = (size_t)(eq - p);
            trim(&name, &nn);
            if (nn == 1 && (*name == 's' || *name == 'S') &&
                lists_tlsrpt(eq + 1, len - (size_t)(eq + 1 - p))) {
                /* the value becomes "*" padded with spaces: the length stays */
                eq[1] = '*';
                memset(eq + 2, ' ', len - (size_t)(eq + 2 - p));
                return;
            }
        }
        if (semi == NULL)
            break;
        p = semi + 1;
    }
}

/* key_lookup - libopendkim's key callback: ask the caller's resolver */
static DKIM_CBSTAT key_lookup(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buf, size_t buflen)
{
    struct dkim_verifier *v = dkim_get_user_context(dkim);
    const char *sel = (const char *)dkim_sig_getselector(sig);
    const char *dom = (const char *)dkim_sig_getdomain(sig);
    struct lookup_note scratch,
        *note = v->n_notes < LOOKUPS_MAX ? &v->notes[v->n_notes++] : &scratch;
    char rec[DKIM_KEY_MAX + 1];

    memset(note, 0, sizeof(*note));
    if (sel == NULL || dom == NULL || strlen(sel) >= DKIM_NAME_BUF ||
        strlen(dom) >= DKIM_NAME_BUF) {
        note->status = DKIM_KEY_NOTFOUND;
        snprintf(note->why, sizeof(note->why), "selector or domain missing or too long");
        return DKIM_CBSTAT_NOTFOUND;
    }
    /* RFC 6376 §3.6.2.1: the key is at SELECTOR._domainkey.DOMAIN */
    snprintf(note->qname, sizeof(note->qname), "%s._domainkey.%s", sel, dom);
    snprintf(note->domain, sizeof(note->domain), "%s", dom);
    snprintf(note->selector, sizeof(note->selector), "%s", sel);
    rec[0] = '\0';
    note->status = v->lookup(v->arg, note->qname, rec, sizeof(rec), note->why, sizeof(note->why));
    if (note->status == DKIM_KEY_NOTFOUND)
        return DKIM_CBSTAT_NOTFOUND;
    if (note->status != DKIM_KEY_FOUND)
        return DKIM_CBSTAT_TRYAGAIN;
    rec[sizeof(rec) - 1] = '\0';
    service_fix(rec);
    if (strlen(rec) >= buflen) {
        note->status = DKIM_KEY_NOTFOUND;
        snprintf(note->why, sizeof(note->why), "key record longer than %zu octets", buflen - 1);
        return DKIM_CBSTAT_ERROR;
    }
    memcpy(buf, rec, strlen(rec) + 1);
    return DKIM_CBSTAT_CONTINUE;
}

/* dkim_verifier_new - libopendkim with our key lookup and CRLF repair */
struct dkim_verifier *dkim_verifier_new(dkim_key_fn lookup, void *arg, struct mxtls_diag *diag)
{
    struct dkim_verifier *v = calloc(1, sizeof(*v));
    unsigned int flags = DKIM_LIBFLAGS_FIXCRLF;

    if (v == NULL) {
        mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
        return NULL;
    }
    v->lookup = lookup;
    v->arg = arg;
    v->lib = dkim_init(NULL, NULL);
    if (v->lib == NULL ||
        dkim_options(v->lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof(flags)) !=
            DKIM_STAT_OK ||
        dkim_set_key_lookup(v->lib, key_lookup) != DKIM_STAT_OK) {
        mxtls_diag_set(diag, MXTLS_EIO, 0, "libopendkim: cannot initialise");
        dkim_verifier_free(v);
        return NULL;
    }
    return v;
}

/* dkim_verifier_free - close libopendkim; NULL is a no-op */
void dkim_verifier_free(struct dkim_verifier *v)
{
    if (v == NULL)
        return;
    if (v->lib != NULL)
        dkim_close(v->lib);
    free(v);
}

/* dkim_has_signature - a "DKIM-Signature:" field in the header block (RFC 6376 §3.5) */
int dkim_has_signature(const char *buf, size_t len)
{
    static const char name[] = "DKIM-Signature";
    size_t i = 0, n = sizeof(name) - 1;

    while (i < len) {
        const char *nl = memchr(buf + i, '\n', len - i);
        size_t end = nl != NULL ? (size_t)(nl - buf) : len;
        size_t k = i + n;

        if (end == i || (end == i + 1 && buf[i] == '\r'))
            return 0; /* the empty line: end of the header (RFC 5322 §2.1) */
        if (end - i > n && strncasecmp(buf + i, name, n) == 0) {
            while (k < end && (buf[k] == ' ' || buf[k] == '\t'))
                k++;
            if (k < end && buf[k] == ':')
                return 1;
        }
        i = end + 1;
    }
    return 0;
}

/* aligned - d is f or a parent domain of f (relaxed, RFC 7489 §3.1.1, no PSL) */
static int aligned(const char *d, const char *f)
{
    size_t dn = strlen(d), fn = strlen(f);

    if (dn == 0 || fn == 0)
        return 0;
    if (strcasecmp(d, f) == 0)
        return 1;
    return fn > dn + 1 && f[fn - dn - 1] == '.' && strcasecmp(f + fn - dn, d) == 0;
}

/* note_for - what the key lookup said for sig, or NULL */
static const struct lookup_note *note_for(const struct dkim_verifier *v, const char *qname)
{
    for (size_t i = 0; i < v->n_notes; i++)
        if (strcasecmp(v->notes[i].qname, qname) == 0)
            return &v->notes[i];
    return NULL;
}

/* temp_note - the first key lookup that failed for now, or NULL */
static const struct lookup_note *temp_note(const struct dkim_verifier *v)
{
    for (size_t i = 0; i < v->n_notes; i++)
        if (v->notes[i].status == DKIM_KEY_TEMPFAIL)
            return &v->notes[i];
    return NULL;
}

/* copy_name - a name from libopendkim into a fixed buffer ("" for NULL or too long) */
static void copy_name(char *dst, size_t cap, const unsigned char *src)
{
    dst[0] = '\0';
    if (src != NULL && strlen((const char *)src) < cap)
        snprintf(dst, cap, "%s", (const char *)src);
}

/* judge - the verdict of one signature that was processed, into out */
static void judge(const struct dkim_verifier *v, DKIM_SIGINFO *sig, struct dkim_outcome *out)
{
    int err = dkim_sig_geterror(sig);
    char qname[2 * DKIM_NAME_BUF + 16];
    const struct lookup_note *note;
    const char *es;

    copy_name(out->domain, sizeof(out->domain), dkim_sig_getdomain(sig));
    copy_name(out->selector, sizeof(out->selector), dkim_sig_getselector(sig));
    out->aligned = aligned(out->domain, out->from_domain);
    snprintf(qname, sizeof(qname), "%s._domainkey.%s", out->selector, out->domain);
    note = note_for(v, qname);
    if (DKIM_SIG_CHECK(sig)) {
        out->result = DKIM_V_PASS;
        snprintf(out->reason, sizeof(out->reason), "signature verified with the key at %s%s%s",
                 qname, note != NULL && note->why[0] != '\0' ? ", " : "",
                 note != NULL ? note->why : "");
        return;
    }
    es = dkim_sig_geterrorstr(err);
    switch (err) {
    case DKIM_SIGERROR_NOKEY:
    case DKIM_SIGERROR_KEYFAIL:
        /* RFC 6376 §6.1.2: no key record is PERMFAIL, a failed lookup TEMPFAIL */
        if (note != NULL && note->status == DKIM_KEY_TEMPFAIL) {
            out->result = DKIM_V_TEMPERROR;
            snprintf(out->reason, sizeof(out->reason), "key lookup of %s failed: %s", qname,
                     note->why);
        } else {
            out->result = DKIM_V_FAIL;
            snprintf(out->reason, sizeof(out->reason), "no key record at %s%s%s", qname,
                     note != NULL && note->why[0] != '\0' ? ": " : "",
                     note != NULL ? note->why : "");
        }
        return;
    case DKIM_SIGERROR_OK:
    case DKIM_SIGERROR_BADSIG:
        out->result = DKIM_V_FAIL;
        if (dkim_sig_getbh(sig) == DKIM_SIGBH_MISMATCH)
            snprintf(out->reason, sizeof(out->reason),
                     "body hash mismatch: the body was changed after signing (RFC 6376 §3.7)");
        else
            snprintf(out->reason, sizeof(out->reason),
                     "signature does not verify with the key at %s (RFC 6376 §6.1.3)", qname);
        return;
    case DKIM_SIGERROR_VERSION:
    case DKIM_SIGERROR_MISSING_A:
    case DKIM_SIGERROR_INVALID_A:
    case DKIM_SIGERROR_MISSING_H:
    case DKIM_SIGERROR_INVALID_HC:
    case DKIM_SIGERROR_INVALID_BC:
    case DKIM_SIGERROR_MISSING_D:
    case DKIM_SIGERROR_EMPTY_D:
    case DKIM_SIGERROR_MISSING_S:
    case DKIM_SIGERROR_EMPTY_S:
    case DKIM_SIGERROR_MISSING_B:
    case DKIM_SIGERROR_EMPTY_B:
    case DKIM_SIGERROR_CORRUPT_B:
    case DKIM_SIGERROR_MISSING_BH:
    case DKIM_SIGERROR_EMPTY_BH:
    case DKIM_SIGERROR_CORRUPT_BH:
    case DKIM_SIGERROR_MISSING_V:
    case DKIM_SIGERROR_EMPTY_V:
    case DKIM_SIGERROR_DOMAIN:
        out->result = DKIM_V_PERMERROR;
        snprintf(out->reason, sizeof(out->reason), "malformed DKIM-Signature: %s",
                 es != NULL ? es : "unknown error");
        return;
    default:
        out->result = DKIM_V_FAIL;
        snprintf(out->reason, sizeof(out->reason), "%s",
                 es != NULL ? es : "signature not verified");
    }
}

/* rank - which signature to report: passing first, then aligned, then processed */
static int rank(DKIM_SIGINFO *sig, const char *from)
{
    const char *d = (const char *)dkim_sig_getdomain(sig);
    int r = 0;

    if (DKIM_SIG_CHECK(sig))
        r += 4;
    if (d != NULL && aligned(d, from))
        r += 2;
    if ((dkim_sig_getflags(sig) & DKIM_SIGFLAG_PROCESSED) != 0)
        r += 1;
    return r;
}

/* dkim_verify_message - one verdict for the message */
int dkim_verify_message(struct dkim_verifier *v, const char *buf, size_t len,
                        struct dkim_outcome *out, struct mxtls_diag *diag)
{
    DKIM_STAT st = DKIM_STAT_OK;
    DKIM_SIGINFO **sigs = NULL, *best = NULL;
    const struct lookup_note *temp;
    DKIM *d;
    int nsigs = 0, best_rank = -1;

    memset(out, 0, sizeof(*out));
    v->n_notes = 0;
    if (!dkim_has_signature(buf, len)) {
        out->result = DKIM_V_NONE;
        snprintf(out->reason, sizeof(out->reason), "no DKIM-Signature header");
        return 0;
    }
    d = dkim_verify(v->lib, (const unsigned char *)"mxtls", NULL, &st);
    if (d == NULL) {
        out->result = DKIM_V_TEMPERROR;
        snprintf(out->reason, sizeof(out->reason), "libopendkim: %s", dkim_getresultstr(st));
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "libopendkim: %s", dkim_getresultstr(st));
    }
    dkim_set_user_context(d, v);
    /* libopendkim wants a writable buffer but does not change it */
    st = dkim_chunk(d, (u_char *)(uintptr_t)buf, len);
    if (st == DKIM_STAT_OK)
        st = dkim_chunk(d, NULL, 0);
    if (st == DKIM_STAT_OK)
        st = dkim_eom(d, NULL);
    copy_name(out->from_domain, sizeof(out->from_domain), dkim_getdomain(d));
    if (dkim_getsiglist(d, &sigs, &nsigs) == DKIM_STAT_OK) {
        for (int i = 0; i < nsigs; i++) {
            int r = rank(sigs[i], out->from_domain);

            if (r > best_rank) {
                best_rank = r;
                best = sigs[i];
            }
        }
    }
    if (best != NULL && (dkim_sig_getflags(best) & DKIM_SIGFLAG_PROCESSED) != 0) {
        judge(v, best, out);
    } else if ((temp = temp_note(v)) != NULL) {
        /* libopendkim stops at a key it could not get now (DKIM_STAT_CBTRYAGAIN) */
        out->result = DKIM_V_TEMPERROR;
        snprintf(out->domain, sizeof(out->domain), "%s", temp->domain);
        snprintf(out->selector, sizeof(out->selector), "%s", temp->selector);
        out->aligned = aligned(out->domain, out->from_domain);
        snprintf(out->reason, sizeof(out->reason), "key lookup of %s failed: %s", temp->qname,
                 temp->why);
    } else if (best != NULL) {
        judge(v, best, out);
    } else if (st == DKIM_STAT_NOSIG) {
        out->result = DKIM_V_NONE;
        snprintf(out->reason, sizeof(out->reason), "no usable DKIM-Signature header");
    } else {
        const char *e = dkim_geterror(d);

        out->result = DKIM_V_PERMERROR;
        snprintf(out->reason, sizeof(out->reason), "DKIM-Signature not processed: %s",
                 e != NULL ? e : dkim_getresultstr(st));
    }
    if (out->domain[0] != '\0' && out->from_domain[0] != '\0' && !out->aligned) {
        size_t n = strlen(out->reason);

        snprintf(out->reason + n, sizeof(out->reason) - n,
                 "; signing domain %s is not the From: domain %s", out->domain, out->from_domain);
    }
    dkim_free(d);
    return 0;
}
