/* fetch.c - MTA-STS policy fetch over HTTPS: libcurl multi on libevent. */
#include "fetch.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "mxtls/domain.h"
#include "mxtls/sts_policy.h"

#define FETCH_TIMEOUT_MAX 600000 /* ms; a policy fetch is never worth more */
#define FETCH_USER_AGENT  "mxtls/0.1"

/* One socket curl asked us to watch. */
struct sockev {
    struct fetch *f;
    struct event *ev;
    struct sockev *prev, *next;
};

/* One transfer in flight. */
struct transfer {
    struct fetch *f;
    CURL *easy;
    struct curl_slist *connect_to; /* "mta-sts.<d>:443:<addr>:443" */
    fetch_callback cb;
    void *arg;
    char *body; /* what arrived of a 200 response, up to STS_POLICY_BODY_MAX */
    size_t len, cap;
    bool too_big; /* the body exceeded STS_POLICY_BODY_MAX: aborted */
    char errbuf[CURL_ERROR_SIZE];
    struct transfer *prev, *next;
};

struct fetch {
    struct event_base *base;
    char *ca_file;
    CURLM *multi;
    struct event *timer;
    struct transfer *transfers;
    struct sockev *sockevs;
};

static void fetch_check_done(struct fetch *f);

/* fetch_on_socket - libevent saw activity on a socket curl watches. */
static void fetch_on_socket(evutil_socket_t fd, short what, void *arg)
{
    struct fetch *f = arg;
    int flags = 0, running;

    if (what & EV_READ)
        flags |= CURL_CSELECT_IN;
    if (what & EV_WRITE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(f->multi, fd, flags, &running);
    fetch_check_done(f);
}

/* fetch_on_timer - curl's timeout expired. */
static void fetch_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct fetch *f = arg;
    int running;

    curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    fetch_check_done(f);
}

/* fetch_sockev_free - stop watching a socket and forget it. */
static void fetch_sockev_free(struct fetch *f, struct sockev *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        f->sockevs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (s->ev)
        event_free(s->ev);
    free(s);
}

/*
 * fetch_socket_cb - CURLMOPT_SOCKETFUNCTION: create, update or remove the
 * libevent event for socket fd. Returns -1 (which fails the transfer) when
 * memory runs out.
 */
static int fetch_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct fetch *f = userp;
    struct sockev *s = socketp;
    short events = EV_PERSIST;

    if (what == CURL_POLL_REMOVE) {
        if (s)
            fetch_sockev_free(f, s);
        curl_multi_assign(f->multi, fd, NULL);
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return -1;
        s->f = f;
        s->next = f->sockevs;
        if (s->next)
            s->next->prev = s;
        f->sockevs = s;
        curl_multi_assign(f->multi, fd, s);
    }
    if (what & CURL_POLL_IN)
        events |= EV_READ;
    if (what & CURL_POLL_OUT)
        events |= EV_WRITE;
    if (s->ev)
        event_free(s->ev);
    s->ev = event_new(f->base, fd, events, fetch_on_socket, f);
    if (!s->ev || event_add(s->ev, NULL) != 0)
        return -1;
    return 0;
}

/* fetch_timer_cb - CURLMOPT_TIMERFUNCTION: (re)arm or cancel our one timer. */
static int fetch_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct fetch *f = userp;
    struct timeval tv;

    if (timeout_ms < 0)
        return evtimer_del(f->timer) == 0 ? 0 : -1;
    /* Even a 0 timeout goes through the loop: curl forbids calling
     * curl_multi_socket_action from within this callback. */
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    return evtimer_add(f->timer, &tv) == 0 ? 0 : -1;
}

/*
 * fetch_write_cb - CURLOPT_WRITEFUNCTION: keep the body of a 200 response,
 * aborting (CURLE_WRITE_ERROR) as soon as it exceeds STS_POLICY_BODY_MAX, so a
 * chunked body without Content-Length is capped too (RFC 8461 §3.3). Bodies of
 * other statuses are discarded: the status alone decides.
 */
static size_t fetch_write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    struct transfer *t = userp;
    size_t n = size * nmemb;
    long status = 0;

    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200)
        return n;
    if (n > STS_POLICY_BODY_MAX - t->len) {
        t->too_big = true;
        return 0;
    }
    if (t->len + n > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        char *p;

        while (cap < t->len + n)
            cap *= 2;
        if (cap > STS_POLICY_BODY_MAX)
            cap = STS_POLICY_BODY_MAX;
        p = realloc(t->body, cap);
        if (!p)
            return 0; /* CURLE_WRITE_ERROR, reported with curl's text */
        t->body = p;
        t->cap = cap;
    }
    memcpy(t->body + t->len, data, n);
    t->len += n;
    return n;
}

/* fetch_transfer_free - release one transfer (already out of the multi). */
static void fetch_transfer_free(struct fetch *f, struct transfer *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        f->transfers = t->next;
    if (t->next)
        t->next->prev = t->prev;
    curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->connect_to);
    free(t->body);
    free(t);
}

/*
 * fetch_is_webpki - whether a curl error means the certificate could not be
 * authenticated by PKIX (TLS-RPT "sts-webpki-invalid", RFC 8460 §4.3.2.1)
 * rather than the policy being unreachable ("sts-policy-fetch-error").
 */
static bool fetch_is_webpki(CURLcode rc)
{
    switch (rc) {
    case CURLE_PEER_FAILED_VERIFICATION: /* == CURLE_SSL_CACERT since 7.62 */
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        return true;
    default:
        return false;
    }
}

/*
 * fetch_type_ok - whether a Content-Type value has the media type text/plain
 * (RFC 8461 §3.3); type and subtype compare case-insensitively (RFC 9110
 * §8.3.1), parameters such as charset are allowed.
 */
static bool fetch_type_ok(const char *ct)
{
    static const char want[] = "text/plain";
    size_t n = sizeof(want) - 1;

    if (!ct)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, want, n) != 0)
        return false;
    ct += n;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

/* fetch_finish - judge a completed transfer and fill result (reason into buf). */
static void fetch_finish(struct transfer *t, CURLcode rc, struct fetch_result *r, char *buf,
                         size_t bufsize)
{
    const char *ct = NULL, *location = NULL;

    memset(r, 0, sizeof(*r));
    r->failure = DECIDE_STS_FETCH_ERROR;
    r->reason = buf;
    buf[0] = '\0';
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &r->http_status);

    if (t->too_big) {
        snprintf(buf, bufsize, "body larger than %d octets (RFC 8461 §3.3)", STS_POLICY_BODY_MAX);
    } else if (rc == CURLE_FILESIZE_EXCEEDED) {
        snprintf(buf, bufsize, "body larger than %d octets (Content-Length, RFC 8461 §3.3)",
                 STS_POLICY_BODY_MAX);
    } else if (rc != CURLE_OK) {
        if (fetch_is_webpki(rc))
            r->failure = DECIDE_STS_WEBPKI_INVALID;
        snprintf(buf, bufsize, "%s", t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc));
    } else if (r->http_status >= 300 && r->http_status < 400) {
        curl_easy_getinfo(t->easy, CURLINFO_REDIRECT_URL, &location);
        snprintf(buf, bufsize, "HTTP status %ld: redirect to %s refused (RFC 8461 §3.3)",
                 r->http_status, location ? location : "(no Location)");
    } else if (r->http_status != 200) {
        snprintf(buf, bufsize, "HTTP status %ld, want 200 (RFC 8461 §3.3)", r->http_status);
    } else if (curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &ct), !fetch_type_ok(ct)) {
        snprintf(buf, bufsize, "Content-Type %s, want text/plain (RFC 8461 §3.3)",
                 ct ? ct : "missing");
    } else {
        r->ok = true;
        r->body = t->body ? t->body : "";
        r->body_len = t->len;
    }
}

/*
 * fetch_check_done - hand every completed transfer to its callback. Runs only
 * from our event handlers, never inside a curl callback, so removing handles
 * and a callback starting new fetches are both allowed.
 */
static void fetch_check_done(struct fetch *f)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(f->multi, &left))) {
        struct transfer *t = NULL;
        struct fetch_result r;
        char reason[FETCH_REASON_MAX];

        if (msg->msg != CURLMSG_DONE)
            continue;
        CURLcode rc = msg->data.result;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        fetch_finish(t, rc, &r, reason, sizeof(reason));
        curl_multi_remove_handle(f->multi, t->easy);
        t->cb(&r, t->arg);
        fetch_transfer_free(f, t);
    }
}

/* fetch_new - see fetch.h. */
struct fetch *fetch_new(struct event_base *base, const char *ca_file, struct mxtls_diag *diag)
{
    struct fetch *f;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "curl_global_init failed");
        return NULL;
    }
    f = calloc(1, sizeof(*f));
    if (!f)
        goto nomem;
    f->base = base;
    if (ca_file && !(f->ca_file = strdup(ca_file)))
        goto nomem;
    f->multi = curl_multi_init();
    f->timer = evtimer_new(base, fetch_on_timer, f);
    if (!f->multi || !f->timer)
        goto nomem;
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, fetch_socket_cb);
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, fetch_timer_cb);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
    return f;
nomem:
    fetch_free(f);
    if (!f)
        curl_global_cleanup();
    mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "cannot set up libcurl multi handle or timer");
    return NULL;
}

/* fetch_free - see fetch.h. */
void fetch_free(struct fetch *f)
{
    if (!f)
        return;
    while (f->transfers) {
        curl_multi_remove_handle(f->multi, f->transfers->easy);
        fetch_transfer_free(f, f->transfers);
    }
    if (f->multi)
        curl_multi_cleanup(f->multi);
    /* Whatever curl did not tell us to remove goes now. */
    while (f->sockevs)
        fetch_sockev_free(f, f->sockevs);
    if (f->timer)
        event_free(f->timer);
    free(f->ca_file);
    free(f);
    curl_global_cleanup();
}

/* fetch_setopts - the RFC 8461 §3.3 rules as libcurl options. */
static CURLcode fetch_setopts(struct fetch *f, struct transfer *t, const char *url,
                              unsigned timeout_ms)
{
    CURL *e = t->easy;
    CURLcode rc = CURLE_OK;
    long connect_ms =
        timeout_ms < FETCH_CONNECT_TIMEOUT_MAX ? timeout_ms : FETCH_CONNECT_TIMEOUT_MAX;

#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(e, opt, val);                                                    \
    } while (0)
    SET(CURLOPT_URL, url);
    SET(CURLOPT_PRIVATE, (void *)t);
    /* The caller's address, while the URL keeps the real name for SNI and the
     * certificate check. CONNECT_TO rather than RESOLVE: RESOLVE entries sit
     * in the multi's shared DNS cache, so two fetches of one name handed
     * different addresses would race. */
    SET(CURLOPT_CONNECT_TO, t->connect_to);
    SET(CURLOPT_PROTOCOLS_STR, "https"); /* §3.3: HTTPS only */
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
    SET(CURLOPT_FOLLOWLOCATION, 0L); /* §3.3: redirects are not followed */
    SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    SET(CURLOPT_SSL_VERIFYPEER, 1L); /* §3.3: WebPKI with SNI */
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (f->ca_file)
        SET(CURLOPT_CAINFO, f->ca_file);
    /* Only the CA file: libcurl keeps the parsed store in the multi handle
     * (CURLOPT_CA_CACHE_TIMEOUT) only when no CA directory is set, and
     * Debian's libcurl sets /etc/ssl/certs by default; its bundle holds the
     * same certificates. Reparsing it per fetch cost 12% of cold CPU. */
    SET(CURLOPT_CAPATH, NULL);
    SET(CURLOPT_PROXY, ""); /* never a proxy from the environment */
    SET(CURLOPT_USERAGENT, FETCH_USER_AGENT);
    SET(CURLOPT_MAXFILESIZE, (long)STS_POLICY_BODY_MAX); /* §3.3, from Content-Length */
    SET(CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    /* The next fetch of this host may be handed another address. */
    SET(CURLOPT_FRESH_CONNECT, 1L);
    SET(CURLOPT_FORBID_REUSE, 1L);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_WRITEFUNCTION, fetch_write_cb);
    SET(CURLOPT_WRITEDATA, (void *)t);
    SET(CURLOPT_ERRORBUFFER, t->errbuf);
#undef SET
    return rc;
}

/* fetch_policy - see fetch.h. */
int fetch_policy(struct fetch *f, const char *domain, const char *addr, unsigned timeout_ms,
                 fetch_callback cb, void *arg)
{
    char name[DOMAIN_BUF_SIZE], raw[DOMAIN_BUF_SIZE + 16];
    char url[DOMAIN_BUF_SIZE + 64], pin[DOMAIN_BUF_SIZE + 64];
    unsigned char sa[sizeof(struct in6_addr)];
    bool v6 = false;
    struct transfer *t;
    int n, rc;

    if (!f || !domain || !addr || !cb || timeout_ms == 0 || timeout_ms > FETCH_TIMEOUT_MAX)
        return MXTLS_EINVAL;
    if (inet_pton(AF_INET, addr, sa) != 1) {
        if (inet_pton(AF_INET6, addr, sa) != 1)
            return MXTLS_EINVAL;
        v6 = true;
    }
    n = snprintf(raw, sizeof(raw), "mta-sts.%s", domain);
    if (n < 0 || (size_t)n >= sizeof(raw))
        return MXTLS_ETOOLONG;
    rc = domain_normalize(raw, (size_t)n, name, sizeof(name), NULL);
    if (rc < 0)
        return rc;
    snprintf(url, sizeof(url), "https://%s/.well-known/mta-sts.txt", name);
    snprintf(pin, sizeof(pin), v6 ? "%s:443:[%s]:443" : "%s:443:%s:443", name, addr);

    t = calloc(1, sizeof(*t));
    if (!t)
        return MXTLS_ENOMEM;
    t->f = f;
    t->cb = cb;
    t->arg = arg;
    t->next = f->transfers;
    if (t->next)
        t->next->prev = t;
    f->transfers = t;
    t->easy = curl_easy_init();
    t->connect_to = curl_slist_append(NULL, pin);
    if (!t->easy || !t->connect_to || fetch_setopts(f, t, url, timeout_ms) != CURLE_OK ||
        curl_multi_add_handle(f->multi, t->easy) != CURLM_OK) {
        fetch_transfer_free(f, t);
        return MXTLS_ENOMEM;
    }
    return 0;
}
