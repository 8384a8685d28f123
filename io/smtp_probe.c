/*
 * smtp_probe - one SMTP STARTTLS probe on a libevent loop (see smtp_probe.h).
 *
 * A plain non-blocking socket driven by one fd event at a time: the
 * plaintext dialogue (banner, EHLO, STARTTLS) is read into a fixed buffer
 * and cut by lib/smtp_reply.c's caps; the TLS handshake is SSL_connect on the
 * same fd, retried on SSL_ERROR_WANT_READ/WRITE. One timer holds the whole
 * probe's deadline. Every way out goes through finish(), which fills the
 * result, calls the callback once and frees the probe.
 *
 * Verification (RFC 7672 §3): DANE through OpenSSL's DANE API with only the
 * usable records (usages 2 and 3; tlsa_usable), DANE-EE without name checks
 * (DANE_FLAG_NO_DANE_EE_NAMECHECKS, RFC 7672 §3.1.1; OpenSSL also ignores
 * the validity dates of a DANE-EE match, RFC 7671 §5.1), DANE-TA with the
 * TLSA base domain(s) as reference identifiers (RFC 7672 §3.2.2). The
 * handshake never fails on verification (SSL_VERIFY_NONE: we audit, we do
 * not deliver); the verdict is read afterwards. WebPKI is checked
 * separately on the presented chain with its own X509_STORE.
 */
#include "smtp_probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "mxtls/smtp_reply.h"

#define PROBE_TIMEOUT_DEFAULT_MS 30000
#define PROBE_HOST_MAX           256
#define PROBE_INBUF              (SMTP_REPLY_TOTAL_MAX + SMTP_REPLY_LINE_MAX)

enum probe_phase { PH_CONNECT, PH_BANNER, PH_EHLO, PH_STARTTLS, PH_TLS };

struct smtp_probe {
    struct event_base *base;
    struct event *ev;    /* the fd event currently waited for, or NULL */
    struct event *timer; /* the whole probe's deadline */
    int fd;
    enum probe_phase phase;
    smtp_probe_callback cb;
    void *arg;
    /* copied request */
    char host[PROBE_HOST_MAX];
    char alt[PROBE_HOST_MAX];
    char helo[PROBE_HOST_MAX];
    char ca_file[4096];
    bool has_ca_file, has_alt;
    struct tlsa *tlsa; /* copies, n_tlsa of them */
    size_t n_tlsa;
    struct sockaddr_storage sa;
    socklen_t salen;
    /* plaintext I/O */
    char in[PROBE_INBUF];
    size_t inlen;
    char out[PROBE_HOST_MAX + 16];
    size_t outlen, outoff;
    /* TLS */
    SSL_CTX *ctx;
    SSL *ssl;
    int n_usable;      /* records OpenSSL accepted */
    int connect_errno; /* connect() failed at once */
    struct smtp_probe_result res;
};

static void on_fd(evutil_socket_t fd, short what, void *arg);

/* smtp_probe_stage_name - "connect", "banner", ..., "done" */
const char *smtp_probe_stage_name(enum smtp_probe_stage stage)
{
    switch (stage) {
    case SMTP_PROBE_CONNECT:
        return "connect";
    case SMTP_PROBE_BANNER:
        return "banner";
    case SMTP_PROBE_EHLO:
        return "ehlo";
    case SMTP_PROBE_NO_STARTTLS:
        return "no-starttls";
    case SMTP_PROBE_STARTTLS:
        return "starttls";
    case SMTP_PROBE_HANDSHAKE:
        return "handshake";
    case SMTP_PROBE_DONE:
        return "done";
    }
    return "unknown";
}

/* probe_free - release everything the probe holds (not the result's chain) */
static void probe_free(struct smtp_probe *p)
{
    if (p->ev != NULL)
        event_free(p->ev);
    if (p->timer != NULL)
        event_free(p->timer);
    if (p->ssl != NULL)
        SSL_free(p->ssl);
    if (p->ctx != NULL)
        SSL_CTX_free(p->ctx);
    if (p->fd >= 0)
        close(p->fd);
    for (size_t i = 0; i < p->n_tlsa; i++)
        tlsa_finish(&p->tlsa[i]);
    free(p->tlsa);
    free(p);
}

/* finish - the one completion: fill stage and reason, call back, free */
static void finish(struct smtp_probe *p, enum smtp_probe_stage stage, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void finish(struct smtp_probe *p, enum smtp_probe_stage stage, const char *fmt, ...)
{
    p->res.stage = stage;
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->res.reason, sizeof p->res.reason, fmt, ap);
        va_end(ap);
    }
    ERR_clear_error();
    p->cb(&p->res, p->arg);
    if (p->res.chain != NULL)
        sk_X509_pop_free(p->res.chain, X509_free);
    probe_free(p);
}

/* stage_of - the result stage for a failure in the current phase */
static enum smtp_probe_stage stage_of(const struct smtp_probe *p)
{
    switch (p->phase) {
    case PH_CONNECT:
        return SMTP_PROBE_CONNECT;
    case PH_BANNER:
        return SMTP_PROBE_BANNER;
    case PH_EHLO:
        return SMTP_PROBE_EHLO;
    case PH_STARTTLS:
        return SMTP_PROBE_STARTTLS;
    case PH_TLS:
        return SMTP_PROBE_HANDSHAKE;
    }
    return SMTP_PROBE_CONNECT;
}

/* wait_fd - wait for what (EV_READ or EV_WRITE) on the socket */
static int wait_fd(struct smtp_probe *p, short what)
{
    if (p->ev != NULL)
        event_free(p->ev);
    p->ev = event_new(p->base, p->fd, what, on_fd, p);
    if (p->ev == NULL || event_add(p->ev, NULL) != 0)
        return -1;
    return 0;
}

/* phase_name - what we were waiting for, for the deadline message */
static const char *phase_name(enum probe_phase ph)
{
    switch (ph) {
    case PH_CONNECT:
        return "TCP connect";
    case PH_BANNER:
        return "the 220 greeting";
    case PH_EHLO:
        return "the EHLO reply";
    case PH_STARTTLS:
        return "the STARTTLS reply";
    case PH_TLS:
        return "the TLS handshake";
    }
    return "?";
}

/* on_timeout - the probe's deadline passed */
static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct smtp_probe *p = arg;
    p->res.timed_out = true;
    finish(p, stage_of(p), "timed out waiting for %s", phase_name(p->phase));
}

/* send_cmd - queue one command line and start writing it */
static void send_cmd(struct smtp_probe *p, const char *line)
{
    int n = snprintf(p->out, sizeof p->out, "%s\r\n", line);
    p->outlen = n > 0 && (size_t)n < sizeof p->out ? (size_t)n : 0;
    p->outoff = 0;
    p->inlen = 0;
    if (wait_fd(p, EV_WRITE) != 0)
        finish(p, stage_of(p), "out of memory (event)");
}

static void start_tls(struct smtp_probe *p);
static void do_handshake(struct smtp_probe *p);

/* on_reply - a complete reply arrived in the current phase */
static void on_reply(struct smtp_probe *p, const struct smtp_reply *r, size_t used)
{
    switch (p->phase) {
    case PH_BANNER:
        snprintf(p->res.banner, sizeof p->res.banner, "%d %.240s", r->code, r->text);
        /* RFC 5321 §4.3.1: 220 greets; 554 (or anything else) refuses the session. */
        if (r->code != 220) {
            finish(p, SMTP_PROBE_BANNER, "greeting is %d, not 220: %s", r->code, r->text);
            return;
        }
        p->phase = PH_EHLO;
        {
            char cmd[PROBE_HOST_MAX + 8];
            snprintf(cmd, sizeof cmd, "EHLO %s", p->helo);
            send_cmd(p, cmd);
        }
        return;
    case PH_EHLO:
        if (r->code != 250) {
            finish(p, SMTP_PROBE_EHLO, "EHLO refused: %d %s", r->code, r->text);
            return;
        }
        p->res.starttls_offered = r->starttls;
        if (!r->starttls) {
            finish(p, SMTP_PROBE_NO_STARTTLS, "STARTTLS not offered in the EHLO reply");
            return;
        }
        p->phase = PH_STARTTLS;
        send_cmd(p, "STARTTLS");
        return;
    case PH_STARTTLS:
        /* RFC 3207 §4: 220 Ready to start TLS. */
        if (r->code != 220) {
            finish(p, SMTP_PROBE_STARTTLS, "STARTTLS refused: %d %s", r->code, r->text);
            return;
        }
        /* Plaintext after the 220 would be read as if it came over TLS: the
           STARTTLS injection flaw (CVE-2011-0411). A correct server sends nothing. */
        if (used < p->inlen) {
            finish(p, SMTP_PROBE_STARTTLS,
                   "%zu octets of plaintext after the STARTTLS reply (injection)", p->inlen - used);
            return;
        }
        p->phase = PH_TLS;
        start_tls(p);
        return;
    default:
        finish(p, stage_of(p), "internal error: reply in phase %d", (int)p->phase);
        return;
    }
}

/* read_plain - read more of a plaintext reply and act on it when complete */
static void read_plain(struct smtp_probe *p)
{
    if (p->inlen >= sizeof p->in) {
        finish(p, stage_of(p), "reply over %d octets", SMTP_REPLY_TOTAL_MAX);
        return;
    }
    ssize_t n = recv(p->fd, p->in + p->inlen, sizeof p->in - p->inlen, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            if (wait_fd(p, EV_READ) != 0)
                finish(p, stage_of(p), "out of memory (event)");
            return;
        }
        finish(p, stage_of(p), "read error waiting for %s: %s", phase_name(p->phase),
               strerror(errno));
        return;
    }
    if (n == 0) {
        finish(p, stage_of(p), "connection closed by the server while waiting for %s",
               phase_name(p->phase));
        return;
    }
    p->inlen += (size_t)n;
    struct smtp_reply r;
    struct mxtls_diag d = {0};
    size_t used = 0;
    int err = smtp_reply_parse(p->in, p->inlen, &r, &used, &d);
    if (err == MXTLS_EAGAIN) {
        if (wait_fd(p, EV_READ) != 0)
            finish(p, stage_of(p), "out of memory (event)");
        return;
    }
    if (err < 0) {
        if (p->phase == PH_BANNER) {
            char first[64];
            size_t k = 0;
            for (size_t i = 0; i < p->inlen && k + 1 < sizeof first && p->in[i] != '\n'; i++) {
                unsigned char c = (unsigned char)p->in[i];
                first[k++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
            }
            first[k] = '\0';
            snprintf(p->res.banner, sizeof p->res.banner, "%s", first);
        }
        finish(p, stage_of(p), "bad reply to %s: %s",
               p->phase == PH_BANNER ? "connect"
               : p->phase == PH_EHLO ? "EHLO"
                                     : "STARTTLS",
               d.what);
        return;
    }
    on_reply(p, &r, used);
}

/* write_plain - write the rest of the queued command, then wait for the reply */
static void write_plain(struct smtp_probe *p)
{
    while (p->outoff < p->outlen) {
        ssize_t n = send(p->fd, p->out + p->outoff, p->outlen - p->outoff, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                if (wait_fd(p, EV_WRITE) != 0)
                    finish(p, stage_of(p), "out of memory (event)");
                return;
            }
            finish(p, stage_of(p), "write error: %s", strerror(errno));
            return;
        }
        p->outoff += (size_t)n;
    }
    if (wait_fd(p, EV_READ) != 0)
        finish(p, stage_of(p), "out of memory (event)");
}

/* on_connected - the non-blocking connect completed (or failed) */
static void on_connected(struct smtp_probe *p)
{
    int soerr = p->connect_errno;
    socklen_t sl = sizeof soerr;
    if (soerr == 0 && getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
        soerr = errno;
    if (soerr != 0) {
        finish(p, SMTP_PROBE_CONNECT, "connect: %s", strerror(soerr));
        return;
    }
    p->phase = PH_BANNER;
    p->inlen = 0;
    if (wait_fd(p, EV_READ) != 0)
        finish(p, stage_of(p), "out of memory (event)");
}

/* on_fd - the socket is ready for what the current phase waits for */
static void on_fd(evutil_socket_t fd, short what, void *arg)
{
    struct smtp_probe *p = arg;

    if (p->phase == PH_CONNECT) {
        on_connected(p);
        return;
    }
    if (p->phase == PH_TLS) {
        do_handshake(p);
        return;
    }
    if (what & EV_WRITE)
        write_plain(p);
    else
        read_plain(p);
}

/* ssl_error_text - the last OpenSSL error as text, or fallback */
static void ssl_error_text(char *buf, size_t size, const char *fallback)
{
    unsigned long e = ERR_peek_last_error();
    if (e == 0) {
        snprintf(buf, size, "%s", fallback);
        return;
    }
    ERR_error_string_n(e, buf, size);
}

/* start_tls - set up the SSL object with DANE and begin the handshake */
static void start_tls(struct smtp_probe *p)
{
    ERR_clear_error();
    p->ctx = SSL_CTX_new(TLS_client_method());
    if (p->ctx == NULL) {
        finish(p, SMTP_PROBE_HANDSHAKE, "SSL_CTX_new failed");
        return;
    }
    SSL_CTX_set_verify(p->ctx, SSL_VERIFY_NONE, NULL);
    if (p->n_tlsa > 0 && SSL_CTX_dane_enable(p->ctx) <= 0) {
        finish(p, SMTP_PROBE_HANDSHAKE, "SSL_CTX_dane_enable failed");
        return;
    }
    p->ssl = SSL_new(p->ctx);
    if (p->ssl == NULL || SSL_set_fd(p->ssl, p->fd) != 1) {
        finish(p, SMTP_PROBE_HANDSHAKE, "SSL_new failed");
        return;
    }
    /* SNI: the MX host name (RFC 7672 §8.1 says senders SHOULD send it). */
    SSL_set_tlsext_host_name(p->ssl, p->host);
    if (p->n_tlsa > 0) {
        /* RFC 7672 §3.2.2: the TLSA base domain is the reference identifier
           of DANE-TA; with a CNAME, both the original and the expanded name. */
        if (SSL_dane_enable(p->ssl, p->host) <= 0) {
            finish(p, SMTP_PROBE_HANDSHAKE, "SSL_dane_enable failed");
            return;
        }
        if (p->has_alt)
            SSL_add1_host(p->ssl, p->alt);
        SSL_set_hostflags(p->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        /* RFC 7672 §3.1.1: DANE-EE(3) ignores names. */
        SSL_dane_set_flags(p->ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
        for (size_t i = 0; i < p->n_tlsa; i++) {
            const struct tlsa *t = &p->tlsa[i];
            /* RFC 7672 §3.1.3: usages 0 and 1 are not for SMTP; skip them. */
            if (tlsa_usable(t, NULL) != 0)
                continue;
            int r = SSL_dane_tlsa_add(p->ssl, t->usage, t->selector, t->mtype, t->data, t->len);
            if (r > 0)
                p->n_usable++;
        }
        ERR_clear_error();
    }
    SSL_set_connect_state(p->ssl);
    do_handshake(p);
}

/* asn1_time_to_time_t - an ASN1_TIME as time_t UTC, 0 when it cannot be read */
static time_t asn1_time_to_time_t(const ASN1_TIME *t)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return timegm(&tm);
}

/*
 * The WebPKI trust store, loaded once per ca_file and shared by the probes of
 * the process: loading a system bundle takes about 30 ms, which 10,000
 * probes cannot pay each. Probes run on one event loop (one thread); a
 * different ca_file replaces the cached store.
 */
static struct {
    X509_STORE *store;
    bool is_default;
    char path[4096];
} trust_cache;

/* trust_store - a reference to the store for p's ca_file (caller frees), or NULL */
static X509_STORE *trust_store(const struct smtp_probe *p, char *err, size_t errsize)
{
    bool def = !p->has_ca_file;
    if (trust_cache.store != NULL && trust_cache.is_default == def &&
        (def || strcmp(trust_cache.path, p->ca_file) == 0)) {
        if (X509_STORE_up_ref(trust_cache.store) != 1)
            return NULL;
        return trust_cache.store;
    }
    X509_STORE *store = X509_STORE_new();
    if (store == NULL) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    if (def ? X509_STORE_set_default_paths(store) != 1
            : X509_STORE_load_file(store, p->ca_file) != 1) {
        if (def)
            snprintf(err, errsize, "cannot load the default trust store");
        else
            snprintf(err, errsize, "cannot load CA file %.200s", p->ca_file);
        X509_STORE_free(store);
        return NULL;
    }
    if (trust_cache.store != NULL)
        X509_STORE_free(trust_cache.store);
    trust_cache.store = store;
    trust_cache.is_default = def;
    snprintf(trust_cache.path, sizeof trust_cache.path, "%s", def ? "" : p->ca_file);
    if (X509_STORE_up_ref(store) != 1)
        return NULL;
    return store;
}

/* check_webpki - the presented chain against the trust store and the host name */
static void check_webpki(struct smtp_probe *p, X509 *leaf, STACK_OF(X509) * chain)
{
    struct smtp_probe_result *r = &p->res;
    X509_STORE *store = trust_store(p, r->webpki_reason, sizeof r->webpki_reason);
    X509_STORE_CTX *vctx = X509_STORE_CTX_new();

    if (store == NULL || vctx == NULL) {
        if (r->webpki_reason[0] == '\0')
            snprintf(r->webpki_reason, sizeof r->webpki_reason, "out of memory");
        goto out;
    }
    if (X509_STORE_CTX_init(vctx, store, leaf, chain) != 1) {
        snprintf(r->webpki_reason, sizeof r->webpki_reason, "X509_STORE_CTX_init failed");
        goto out;
    }
    X509_STORE_CTX_set_purpose(vctx, X509_PURPOSE_SSL_SERVER);
    if (X509_verify_cert(vctx) == 1) {
        r->webpki_chain_ok = true;
    } else {
        int e = X509_STORE_CTX_get_error(vctx);
        snprintf(r->webpki_reason, sizeof r->webpki_reason, "%s", X509_verify_cert_error_string(e));
    }
    /* RFC 6125 §6.4 via OpenSSL: the MX host name against SAN dNSNames. */
    if (X509_check_host(leaf, p->host, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1) {
        r->webpki_name_ok = true;
    } else if (r->webpki_reason[0] == '\0') {
        snprintf(r->webpki_reason, sizeof r->webpki_reason,
                 "certificate does not match host name %.200s", p->host);
    } else {
        size_t l = strlen(r->webpki_reason);
        snprintf(r->webpki_reason + l, sizeof r->webpki_reason - l,
                 "; certificate does not match host name %.200s", p->host);
    }
out:
    X509_STORE_CTX_free(vctx);
    X509_STORE_free(store);
    ERR_clear_error();
}

/* find_record - index in the request's TLSA of the record OpenSSL matched */
static int find_record(const struct smtp_probe *p, uint8_t u, uint8_t s, uint8_t m,
                       const unsigned char *data, size_t len)
{
    for (size_t i = 0; i < p->n_tlsa; i++) {
        const struct tlsa *t = &p->tlsa[i];
        if (t->usage == u && t->selector == s && t->mtype == m && t->len == len &&
            memcmp(t->data, data, len) == 0)
            return (int)i;
    }
    return -1;
}

/* handshake_done - fill the result from the established connection */
static void handshake_done(struct smtp_probe *p)
{
    struct smtp_probe_result *r = &p->res;
    const char *v = SSL_get_version(p->ssl);
    const char *c = SSL_get_cipher_name(p->ssl);

    snprintf(r->tls_version, sizeof r->tls_version, "%s", v != NULL ? v : "");
    snprintf(r->cipher, sizeof r->cipher, "%s", c != NULL ? c : "");
    STACK_OF(X509) *peer = SSL_get_peer_cert_chain(p->ssl); /* client: leaf first */
    if (peer != NULL && sk_X509_num(peer) > 0) {
        r->chain = sk_X509_new_null();
        for (int i = 0; r->chain != NULL && i < sk_X509_num(peer); i++) {
            X509 *x = sk_X509_value(peer, i);
            if (X509_up_ref(x) != 1 || sk_X509_push(r->chain, x) <= 0) {
                X509_free(x);
                break;
            }
        }
    }
    X509 *leaf = r->chain != NULL && sk_X509_num(r->chain) > 0 ? sk_X509_value(r->chain, 0) : NULL;
    if (leaf != NULL)
        r->leaf_not_after = asn1_time_to_time_t(X509_get0_notAfter(leaf));

    r->dane_record = -1;
    r->dane_depth = -1;
    if (p->n_tlsa > 0) {
        long vr = SSL_get_verify_result(p->ssl);
        if (p->n_usable == 0) {
            snprintf(r->dane_reason, sizeof r->dane_reason,
                     "no usable TLSA record (RFC 7672 §3.1: only usages 2 and 3 count)");
        } else if (leaf == NULL) {
            snprintf(r->dane_reason, sizeof r->dane_reason, "no certificate presented");
        } else {
            uint8_t u, s, m;
            const unsigned char *data = NULL;
            size_t dlen = 0;
            int depth = SSL_get0_dane_authority(p->ssl, NULL, NULL);
            if (vr == X509_V_OK && depth >= 0 &&
                SSL_get0_dane_tlsa(p->ssl, &u, &s, &m, &data, &dlen) >= 0) {
                r->dane_matched = true;
                r->dane_depth = depth;
                r->dane_record = find_record(p, u, s, m, data, dlen);
            } else {
                snprintf(r->dane_reason, sizeof r->dane_reason, "%s",
                         vr == X509_V_OK ? "no TLSA record matched"
                                         : X509_verify_cert_error_string(vr));
            }
        }
    }
    if (leaf != NULL) {
        STACK_OF(X509) *rest = sk_X509_new_null();
        for (int i = 1; rest != NULL && i < sk_X509_num(r->chain); i++)
            sk_X509_push(rest, sk_X509_value(r->chain, i));
        check_webpki(p, leaf, rest);
        sk_X509_free(rest);
    } else {
        snprintf(r->webpki_reason, sizeof r->webpki_reason, "no certificate presented");
    }
    /* Be polite: QUIT over TLS, best effort, never waited for. */
    SSL_write(p->ssl, "QUIT\r\n", 6);
    finish(p, SMTP_PROBE_DONE, NULL);
}

/* do_handshake - one step of SSL_connect */
static void do_handshake(struct smtp_probe *p)
{
    ERR_clear_error();
    int rc = SSL_connect(p->ssl);
    if (rc == 1) {
        handshake_done(p);
        return;
    }
    int e = SSL_get_error(p->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        if (wait_fd(p, e == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE) != 0)
            finish(p, SMTP_PROBE_HANDSHAKE, "out of memory (event)");
        return;
    }
    char buf[200];
    if (e == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0)
        snprintf(buf, sizeof buf, "%s",
                 errno != 0 ? strerror(errno) : "connection closed by the server");
    else if (e == SSL_ERROR_ZERO_RETURN)
        snprintf(buf, sizeof buf, "connection closed by the server");
    else
        ssl_error_text(buf, sizeof buf, "handshake failed");
    finish(p, SMTP_PROBE_HANDSHAKE, "TLS handshake failed: %s", buf);
}

/* parse_address - numeric IPv4 or IPv6 address and port into a sockaddr */
static int parse_address(const char *a, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, a, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        *len = sizeof *s4;
        return 0;
    }
    if (inet_pton(AF_INET6, a, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        *len = sizeof *s6;
        return 0;
    }
    return -1;
}

/* copy_name - copy a NUL-terminated string into a fixed buffer, or fail */
static int copy_name(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

/* ignore_sigpipe_once - a peer that resets mid-handshake must not kill us */
static void ignore_sigpipe_once(void)
{
    /* OpenSSL's socket BIO writes with write(2), which raises SIGPIPE on a
       reset connection. A program using this module must not die of it; if
       nobody has set a disposition, ignore it (as Postfix does). */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
    }
}

/* smtp_probe_start - start one probe on base */
struct smtp_probe *smtp_probe_start(struct event_base *base, const struct smtp_probe_request *req,
                                    smtp_probe_callback cb, void *arg, const char **err)
{
    struct smtp_probe *p;
    const char *e = NULL;

    if (base == NULL || req == NULL || cb == NULL || req->host == NULL || req->address == NULL) {
        *err = "missing argument";
        return NULL;
    }
    p = calloc(1, sizeof *p);
    if (p == NULL) {
        *err = "out of memory";
        return NULL;
    }
    p->fd = -1;
    p->base = base;
    p->cb = cb;
    p->arg = arg;
    p->res.dane_record = -1;
    p->res.dane_depth = -1;
    if (copy_name(p->host, sizeof p->host, req->host) != 0 ||
        copy_name(p->helo, sizeof p->helo, req->helo != NULL ? req->helo : "mxtls.invalid") != 0) {
        e = "host or helo name too long";
        goto fail;
    }
    /* CR or LF in the EHLO name would inject commands. */
    if (strpbrk(p->helo, "\r\n") != NULL) {
        e = "helo name contains a line break";
        goto fail;
    }
    if (req->tlsa_base_alt != NULL && req->tlsa_base_alt[0] != '\0') {
        if (copy_name(p->alt, sizeof p->alt, req->tlsa_base_alt) != 0) {
            e = "TLSA base name too long";
            goto fail;
        }
        p->has_alt = true;
    }
    if (req->ca_file != NULL) {
        if (copy_name(p->ca_file, sizeof p->ca_file, req->ca_file) != 0) {
            e = "ca_file path too long";
            goto fail;
        }
        p->has_ca_file = true;
    }
    if (parse_address(req->address, req->port, &p->sa, &p->salen) != 0) {
        e = "address is not a numeric IPv4 or IPv6 address";
        goto fail;
    }
    if (req->n_tlsa > 0) {
        p->tlsa = calloc(req->n_tlsa, sizeof *p->tlsa);
        if (p->tlsa == NULL) {
            e = "out of memory";
            goto fail;
        }
        for (size_t i = 0; i < req->n_tlsa; i++) {
            const struct tlsa *t = &req->tlsa[i];
            /* An empty record (failed to parse upstream) stays empty: it matches nothing. */
            if (t->len > 0 && tlsa_init(&p->tlsa[i], t->usage, t->selector, t->mtype, t->data,
                                        t->len, NULL) != 0) {
                p->n_tlsa = i;
                e = "out of memory";
                goto fail;
            }
            if (t->len == 0) {
                p->tlsa[i].usage = t->usage;
                p->tlsa[i].selector = t->selector;
                p->tlsa[i].mtype = t->mtype;
            }
        }
        p->n_tlsa = req->n_tlsa;
    }
    ignore_sigpipe_once();
    p->fd = socket(p->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0) {
        e = "socket() failed";
        goto fail;
    }
    p->timer = evtimer_new(base, on_timeout, p);
    unsigned ms = req->timeout_ms > 0 ? req->timeout_ms : PROBE_TIMEOUT_DEFAULT_MS;
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    if (p->timer == NULL || evtimer_add(p->timer, &tv) != 0) {
        e = "out of memory (timer)";
        goto fail;
    }
    p->phase = PH_CONNECT;
    if (connect(p->fd, (struct sockaddr *)&p->sa, p->salen) != 0 && errno != EINPROGRESS) {
        /* Report through the callback like every other failure, from the loop. */
        p->connect_errno = errno;
    }
    if (wait_fd(p, EV_WRITE) != 0) {
        e = "out of memory (event)";
        goto fail;
    }
    return p;
fail:
    probe_free(p);
    *err = e;
    return NULL;
}

/* smtp_probe_cancel - stop a probe in flight without calling back */
void smtp_probe_cancel(struct smtp_probe *p)
{
    if (p == NULL)
        return;
    if (p->res.chain != NULL)
        sk_X509_pop_free(p->res.chain, X509_free);
    probe_free(p);
}
