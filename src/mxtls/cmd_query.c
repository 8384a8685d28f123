/*
 * cmd_query - `mxtls query`: what mxtlsd answers Postfix for a next-hop, and
 * why (issue 4).
 *
 * By default it asks the running mxtlsd, at the address its configuration
 * names (host and port, or path; 127.0.0.1:8461 without -c), with the
 * daemon's explain request: one socketmap netstring "mxtls-explain ZONE
 * NEXTHOP", answered "OK {json}" (src/mxtlsd/session.h, explain.h). So the
 * answer comes from the daemon's own caches, exactly as Postfix would get it.
 * With --direct it runs the same pipeline in this process instead (lookup.h:
 * DANE facts and MTA-STS state, then decide), with memory-only caches: the
 * answer a freshly started mxtlsd would give.
 *
 * Output: the explanation as the daemon's JSON (--json, one compact line),
 * or as text: the reply Postfix gets, the rule, then the facts behind it.
 * Exit status for monitoring: 0 the reply is OK (a policy), 1 NOTFOUND,
 * 2 TEMP, 3 mxtlsd could not be reached or failed (nothing was decided),
 * 64 usage. Failures are reported on stderr; nothing here aborts on bad
 * input from the daemon.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "config.h"
#include "dane.h"
#include "dns.h"
#include "explain.h"
#include "fetch.h"
#include "log.h"
#include "lookup.h"
#include "mxtls/netstring.h"
#include "mxtls/socketmap.h"
#include "session.h"
#include "sts_cache.h"

/* Exit statuses (mxtls(1)). */
#define QUERY_OK       0
#define QUERY_NOTFOUND 1
#define QUERY_TEMP     2
#define QUERY_ERROR    3

#define QUERY_ZONE_DEFAULT "postfix"
#define QUERY_TIMEOUT_S    30  /* default bound on the whole query */
#define QUERY_TIMEOUT_MAX  600 /* seconds */
#define QUERY_ERR_MAX      1024
#define QUERY_NAME_MAX     272 /* "[host]:port" (host: 253) or a socket path (107) */
#define TLSA_DATA_SHOWN    64  /* hex digits of a TLSA record's data shown in text */

struct query_options {
    bool json;
    bool direct;
    bool verbose;
    const char *config;
    const char *zone;
    const char *nexthop;
    unsigned timeout_s;
};

/* cmd_query_usage - the help text */
void cmd_query_usage(FILE *fp)
{
    fprintf(fp,
            "usage: mxtls query [--json] [-c CONFIG] [-z ZONE] [--direct] [-t SECS] [-v] NEXTHOP\n"
            "\n"
            "What mxtlsd answers Postfix (smtp_tls_policy_maps) for NEXTHOP, and why: the\n"
            "reply, the rule that gave it, the MX answer and its DNSSEC status, each MX\n"
            "host's addresses and TLSA records, and the MTA-STS record and policy.\n"
            "NEXTHOP is what Postfix looks up: example.com, [mx.example.com]:587, ...\n"
            "\n"
            "  -j, --json           print mxtlsd's explanation as JSON (one line)\n"
            "  -c, --config FILE    mxtlsd's configuration: where it listens (host and port,\n"
            "                       or path); without it 127.0.0.1:8461\n"
            "  -z, --zone NAME      the socketmap map name whose settings apply (default\n"
            "                       " QUERY_ZONE_DEFAULT
            ", as in socketmap:inet:...:" QUERY_ZONE_DEFAULT ")\n"
            "  -d, --direct         resolve in this process with mxtlsd's code and the\n"
            "                       configuration's resolver and CA settings, without a\n"
            "                       running mxtlsd and without its cache\n"
            "  -t, --timeout SECS   give up after SECS seconds (default %d)\n"
            "  -v, --verbose        with --direct, log the lookups on stderr\n"
            "  -h, --help           this text\n"
            "\n"
            "Exit status: 0 a policy (OK), 1 no policy (NOTFOUND), 2 delivery deferred\n"
            "(TEMP), 3 mxtlsd unreachable or failing, 64 usage.\n",
            QUERY_TIMEOUT_S);
}

/* parse_timeout - whole seconds 1..QUERY_TIMEOUT_MAX */
static int parse_timeout(const char *s, unsigned *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || errno != 0 || *end != '\0' || v < 1 || v > QUERY_TIMEOUT_MAX)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* valid_zone - a socketmap map name: printable ASCII, no space (session.c splits at it) */
static bool valid_zone(const char *z)
{
    size_t n = strlen(z);
    if (n == 0 || n > SOCKETMAP_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (z[i] <= ' ' || z[i] > '~')
            return false;
    return true;
}

/* valid_key - a key Postfix could send: no control characters */
static bool valid_key(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > SOCKETMAP_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] < ' ' || k[i] == 0x7f)
            return false;
    return true;
}

/* parse_options - 0, 1 for --help (done), or -1 for a usage error (reported) */
static int parse_options(int argc, char **argv, struct query_options *o)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},          {"config", required_argument, NULL, 'c'},
        {"zone", required_argument, NULL, 'z'},    {"direct", no_argument, NULL, 'd'},
        {"timeout", required_argument, NULL, 't'}, {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    *o = (struct query_options){.zone = QUERY_ZONE_DEFAULT, .timeout_s = QUERY_TIMEOUT_S};
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "jc:z:dt:vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'j':
            o->json = true;
            break;
        case 'c':
            o->config = optarg;
            break;
        case 'z':
            o->zone = optarg;
            break;
        case 'd':
            o->direct = true;
            break;
        case 't':
            if (parse_timeout(optarg, &o->timeout_s) < 0) {
                fprintf(stderr, "mxtls query: --timeout %s: expected whole seconds, 1 to %d\n",
                        optarg, QUERY_TIMEOUT_MAX);
                return -1;
            }
            break;
        case 'v':
            o->verbose = true;
            break;
        case 'h':
            cmd_query_usage(stdout);
            return 1;
        default:
            return -1;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "mxtls query: %s\n",
                argc == optind ? "which next-hop? (e.g. example.com)" : "one next-hop only");
        return -1;
    }
    o->nexthop = argv[optind];
    if (!valid_zone(o->zone)) {
        fprintf(stderr,
                "mxtls query: --zone '%s': a map name is 1 to %d printable characters, no spaces\n",
                o->zone, SOCKETMAP_NAME_MAX);
        return -1;
    }
    if (!valid_key(o->nexthop) ||
        strlen(SESSION_EXPLAIN_NAME) + 2 + strlen(o->zone) + strlen(o->nexthop) >
            SOCKETMAP_REQUEST_MAX) {
        fprintf(stderr,
                "mxtls query: the next-hop must be 1 to about %d characters without control "
                "characters\n",
                SOCKETMAP_REQUEST_MAX - (int)strlen(SESSION_EXPLAIN_NAME) - 2 -
                    (int)strlen(o->zone));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ the daemon */

/* now_ms - monotonic milliseconds */
static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* wait_fd - poll fd for events until deadline: 1 ready, 0 timed out, -1 error */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
        if (n > 0)
            return 1;
        if (n == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

/* daemon_name - where mxtlsd listens, for messages */
static void daemon_name(const struct mxtls_config *cfg, char *out, size_t size)
{
    if (cfg->path != NULL)
        snprintf(out, size, "%s", cfg->path);
    else if (strchr(cfg->host, ':') != NULL)
        snprintf(out, size, "[%s]:%u", cfg->host, (unsigned)cfg->port);
    else
        snprintf(out, size, "%s:%u", cfg->host, (unsigned)cfg->port);
}

/* connect_one - a non-blocking connect to addr, finished by deadline; fd or -1 with errno */
static int connect_one(const struct sockaddr *addr, socklen_t len, int64_t deadline)
{
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, addr, len) == 0)
        return fd;
    if (errno == EINPROGRESS) {
        int w = wait_fd(fd, POLLOUT, deadline);
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (w == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
            return fd;
        errno = w == 0 ? ETIMEDOUT : w < 0 ? errno : soerr;
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

/* connect_daemon - a connection to mxtlsd; fd, or -1 with err filled */
static int connect_daemon(const struct mxtls_config *cfg, int64_t deadline, char *err,
                          size_t errsize)
{
    char name[QUERY_NAME_MAX];
    daemon_name(cfg, name, sizeof(name));
    if (cfg->path != NULL) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        if (strlen(cfg->path) >= sizeof(sun.sun_path)) {
            snprintf(err, errsize, "%s: socket path too long", name);
            return -1;
        }
        memcpy(sun.sun_path, cfg->path, strlen(cfg->path) + 1);
        int fd = connect_one((const struct sockaddr *)&sun, sizeof(sun), deadline);
        if (fd < 0)
            snprintf(err, errsize, "cannot connect to mxtlsd at %s: %s", name, strerror(errno));
        return fd;
    }
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)cfg->port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(cfg->host, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errsize, "cannot resolve mxtlsd's address %s: %s", name, gai_strerror(gai));
        return -1;
    }
    int fd = -1, last = ECONNREFUSED;
    for (const struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = connect_one(ai->ai_addr, ai->ai_addrlen, deadline);
        if (fd < 0)
            last = errno;
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, errsize, "cannot connect to mxtlsd at %s: %s", name, strerror(last));
    return fd;
}

/* send_all - write len octets by deadline; 0 or -1 with errno */
static int send_all(int fd, const char *buf, size_t len, int64_t deadline)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        int w = wait_fd(fd, POLLOUT, deadline);
        if (w <= 0) {
            if (w == 0)
                errno = ETIMEDOUT;
            return -1;
        }
    }
    return 0;
}

/*
 * recv_reply - read one netstring reply (payload at most SOCKETMAP_REPLY_MAX)
 * by deadline; its payload as a heap string, or NULL with err filled.
 */
static char *recv_reply(int fd, int64_t deadline, const char *name, char *err, size_t errsize)
{
    size_t cap = SOCKETMAP_REPLY_BUF_SIZE, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    for (;;) {
        struct netstring_frame fr;
        struct mxtls_diag d = {0};
        int rc = netstring_decode(buf, len, SOCKETMAP_REPLY_MAX, &fr, &d);
        if (rc == 0) {
            memmove(buf, fr.data, fr.len);
            buf[fr.len] = '\0';
            return buf;
        }
        if (rc != MXTLS_EAGAIN) {
            snprintf(err, errsize, "mxtlsd at %s sent a malformed reply: %s", name, d.what);
            break;
        }
        if (len == cap) { /* cannot happen: decode fails first past the cap */
            snprintf(err, errsize, "mxtlsd at %s sent an oversized reply", name);
            break;
        }
        ssize_t n = recv(fd, buf + len, cap - len, 0);
        if (n > 0) {
            len += (size_t)n;
            continue;
        }
        if (n == 0) {
            snprintf(err, errsize, "mxtlsd at %s closed the connection without a reply", name);
            break;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            int w = wait_fd(fd, POLLIN, deadline);
            if (w > 0)
                continue;
            snprintf(err, errsize, "mxtlsd at %s: %s", name,
                     w == 0 ? "no reply in time" : strerror(errno));
            break;
        }
        snprintf(err, errsize, "mxtlsd at %s: %s", name, strerror(errno));
        break;
    }
    free(buf);
    return NULL;
}

/*
 * ask_daemon - the explain request; the JSON text (heap), or NULL with err
 * filled when mxtlsd cannot be reached, fails or answers anything but OK.
 */
static char *ask_daemon(const struct mxtls_config *cfg, const struct query_options *o, char *err,
                        size_t errsize)
{
    int64_t deadline = now_ms() + (int64_t)o->timeout_s * 1000;
    char name[QUERY_NAME_MAX];
    daemon_name(cfg, name, sizeof(name));

    char payload[SOCKETMAP_REQUEST_MAX + 1];
    int plen =
        snprintf(payload, sizeof(payload), "%s %s %s", SESSION_EXPLAIN_NAME, o->zone, o->nexthop);
    char frame[SOCKETMAP_REQUEST_MAX + 16];
    size_t flen = 0;
    struct mxtls_diag d = {0};
    if (plen < 0 || (size_t)plen >= sizeof(payload) ||
        netstring_encode(payload, (size_t)plen, frame, sizeof(frame), &flen, &d) < 0) {
        snprintf(err, errsize, "the request does not fit a socketmap request");
        return NULL;
    }

    int fd = connect_daemon(cfg, deadline, err, errsize);
    if (fd < 0)
        return NULL;
    char *reply = NULL;
    if (send_all(fd, frame, flen, deadline) < 0)
        snprintf(err, errsize, "mxtlsd at %s: sending the request: %s", name, strerror(errno));
    else
        reply = recv_reply(fd, deadline, name, err, errsize);
    close(fd);
    if (reply == NULL)
        return NULL;
    if (strncmp(reply, "OK ", 3) != 0) {
        snprintf(err, errsize, "mxtlsd at %s answered the explain request with \"%.200s\"", name,
                 reply);
        free(reply);
        return NULL;
    }
    memmove(reply, reply + 3, strlen(reply + 3) + 1);
    return reply;
}

/* ------------------------------------------------------------ --direct */

struct direct {
    struct event_base *base;
    struct lookup_result result;
    bool done;
    bool timed_out;
};

/* on_lookup - the pipeline's answer: keep it, stop the loop */
static void on_lookup(struct lookup_result *r, void *arg)
{
    struct direct *dr = arg;
    dr->result = *r; /* the callback owns the result; we keep it */
    dr->done = true;
    event_base_loopbreak(dr->base);
}

/* on_deadline - the whole query took too long */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct direct *dr = arg;
    dr->timed_out = true;
    event_base_loopbreak(dr->base);
}

/*
 * run_direct - the lookup in this process; the JSON text (heap), or NULL
 * with err filled. Everything it creates is freed before it returns.
 */
static char *run_direct(const struct mxtls_config *cfg, const struct query_options *o, char *err,
                        size_t errsize)
{
    struct socketmap_nexthop nh;
    struct mxtls_diag d = {0};
    if (socketmap_nexthop_parse(o->nexthop, strlen(o->nexthop), &nh, &d) != 0) {
        /* What the daemon's explain request answers for such keys (session.c). */
        char *text = explain_not_looked_up_json(o->nexthop, strlen(o->nexthop), d.what);
        if (text == NULL)
            snprintf(err, errsize, "out of memory");
        if (o->verbose)
            fprintf(stderr, "mxtls query: %s: %s\n", o->nexthop, d.what);
        return text;
    }
    const struct config_zone *zone = config_zone_for(cfg, o->zone, strlen(o->zone));

    char *text = NULL;
    struct direct dr = {0};
    struct dns *dns = NULL;
    struct fetch *fetch = NULL;
    struct pipeline p = {0};
    struct event *deadline = NULL;
    struct lookup *handle = NULL;

    dr.base = event_base_new();
    if (dr.base == NULL) {
        snprintf(err, errsize, "cannot create an event loop");
        goto out;
    }
    dns = dns_new(dr.base, cfg->unbound_config, cfg->trust_anchor_file, &cfg->resolver, &d);
    if (dns == NULL) {
        snprintf(err, errsize, "resolver: %s", d.what);
        goto out;
    }
    fetch = fetch_new(dr.base, cfg->ca_file, &d);
    if (fetch == NULL) {
        snprintf(err, errsize, "https: %s", d.what);
        goto out;
    }
    p.sts = sts_cache_new(dns, fetch, NULL, (int64_t)(cfg->cache_grace_ms / 1000));
    if (p.sts != NULL) /* as mxtlsd does: the same answer when our resolver fails */
        sts_cache_set_resolver_temp(p.sts, cfg->sts_resolver_failure_temp_s);
    p.dane = dane_cache_new(dns);
    struct timeval tv = {(time_t)o->timeout_s, 0};
    deadline = evtimer_new(dr.base, on_deadline, &dr);
    if (p.sts == NULL || p.dane == NULL || deadline == NULL || evtimer_add(deadline, &tv) < 0) {
        snprintf(err, errsize, "out of memory");
        goto out;
    }
    int rc = lookup_start(&p, &nh, zone, &dr.result, on_lookup, &dr, &handle);
    if (rc < 0) {
        snprintf(err, errsize, "out of memory");
        goto out;
    }
    if (rc == 1) {
        dr.done = true;
    } else {
        event_base_dispatch(dr.base);
        if (!dr.done) {
            lookup_cancel(handle);
            snprintf(err, errsize, "%s: no answer within %u s", o->nexthop, o->timeout_s);
            goto out;
        }
    }
    text = explain_json(&dr.result);
    lookup_result_finish(&dr.result);
    if (text == NULL)
        snprintf(err, errsize, "out of memory");
out:
    if (deadline != NULL)
        event_free(deadline);
    sts_cache_free(p.sts);
    dane_cache_free(p.dane);
    fetch_free(fetch);
    dns_free(dns);
    if (dr.base != NULL)
        event_base_free(dr.base);
    return text;
}

/* ------------------------------------------------------------ output */

/* str - o[key] as a string, or NULL */
static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* str_or - o[key] as a string, or dflt */
static const char *str_or(const json_t *o, const char *key, const char *dflt)
{
    const char *s = str(o, key);
    return s != NULL ? s : dflt;
}

/* num - o[key] as an integer into *v; false when absent or not an integer */
static bool num(const json_t *o, const char *key, json_int_t *v)
{
    const json_t *j = json_object_get(o, key);
    if (!json_is_integer(j))
        return false;
    *v = json_integer_value(j);
    return true;
}

/* reply_status - the exit status for the reply Postfix gets */
static int reply_status(const char *reply)
{
    if (strncmp(reply, "OK ", 3) == 0)
        return QUERY_OK;
    if (strncmp(reply, "NOTFOUND", 8) == 0)
        return QUERY_NOTFOUND;
    if (strncmp(reply, "TEMP", 4) == 0)
        return QUERY_TEMP;
    return QUERY_ERROR;
}

/* rule_text - what a decide() rule means (decide.h "why") */
static const char *rule_text(const char *rule)
{
    static const struct {
        const char *name, *text;
    } rules[] = {
        {"invalid-facts", "the facts broke the decision's contract (an mxtlsd bug)"},
        {"no-memory", "mxtlsd ran out of memory"},
        {"too-long", "the policy does not fit a socketmap reply"},
        {"mx-bogus", "the MX answer failed DNSSEC validation: deliveries wait"},
        {"mx-failed", "the MX lookup failed (SERVFAIL, timeout): deliveries wait"},
        {"mx-nxdomain", "the domain does not exist"},
        {"mx-null", "the domain accepts no mail (null MX, RFC 7505)"},
        {"addr-bogus", "an MX host's address failed DNSSEC validation: deliveries wait"},
        {"addr-failed", "an MX host's address lookup failed: deliveries wait"},
        {"tlsa-bogus", "a TLSA RRset failed DNSSEC validation: deliveries wait (RFC 7672 §2.2)"},
        {"tlsa-failed", "a TLSA lookup failed: deliveries wait (RFC 7672 §2.2)"},
        {"dane-only", "every MX host has a usable TLSA record: DANE (RFC 7672)"},
        {"dane", "some MX host has secure TLSA records: TLS required, DANE where usable"},
        {"sts-enforce", "MTA-STS policy in enforce mode (RFC 8461 §5)"},
        {"sts-testing-strict", "MTA-STS testing policy, enforced (zone strict_testing)"},
        {"sts-testing", "MTA-STS testing policy: reported, not enforced (RFC 8461 §5)"},
        {"sts-none", "MTA-STS policy mode none"},
        {"sts-no-record", "no DANE, no MTA-STS record and nothing cached"},
        {"sts-failed", "no DANE; the MTA-STS policy could not be had and nothing is cached"},
        {"sts-no-mx", "the MTA-STS policy lists no mx host"},
        {"sts-resolver-failed", "MTA-STS record published, but our resolver failed to look up "
                                "its policy host: deferred for a bounded time"},
    };
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
        if (strcmp(rules[i].name, rule) == 0)
            return rules[i].text;
    return NULL;
}

/* print_tlsa_record - "3 1 1 <data>", the data cut to TLSA_DATA_SHOWN digits */
static void print_tlsa_record(const json_t *rr)
{
    const char *rec = str_or(rr, "record", "?");
    const char *why = str_or(rr, "why", "");
    bool usable = json_is_true(json_object_get(rr, "usable"));
    size_t n = strlen(rec);
    /* The data starts after the third space. */
    const char *data = rec;
    for (int i = 0; i < 3 && data != NULL; i++) {
        data = strchr(data, ' ');
        if (data != NULL)
            data++;
    }
    int shown = (int)n;
    if (data != NULL && strlen(data) > TLSA_DATA_SHOWN)
        shown = (int)(data - rec) + TLSA_DATA_SHOWN;
    printf("        %.*s%s\n", shown, rec, shown < (int)n ? "..." : "");
    if (usable)
        printf("          usable\n");
    else
        printf("          not usable: %s\n", why);
}

/* print_host - one MX host's facts */
static void print_host(const json_t *h)
{
    json_int_t v;
    printf("    %s\n", str_or(h, "name", "?"));
    const char *adns = str_or(h, "address_dnssec", "?");
    const char *addrs = str(h, "addresses");
    if (addrs == NULL)
        printf("      addresses  %s\n", adns);
    else
        printf("      addresses  %s (DNSSEC %s)\n", addrs[0] != '\0' ? addrs : "none", adns);
    if (str(h, "cname_target") != NULL)
        printf("      CNAME to   %s\n", str(h, "cname_target"));
    const char *tname = str(h, "tlsa_name");
    const char *tdns = str_or(h, "tlsa_dnssec", "?"); /* present when looked up */
    if (tname == NULL) {
        printf("      TLSA       %s\n", str_or(h, "tlsa_dnssec", "not looked up"));
    } else {
        json_int_t records = 0, usable = 0;
        num(h, "tlsa_records", &records);
        num(h, "tlsa_usable", &usable);
        printf("      TLSA       %s: DNSSEC %s, %" JSON_INTEGER_FORMAT
               " record%s, %" JSON_INTEGER_FORMAT " usable\n",
               tname, tdns, records, records == 1 ? "" : "s", usable);
        const json_t *rrs = json_object_get(h, "tlsa");
        size_t i;
        const json_t *rr;
        json_array_foreach(rrs, i, rr) print_tlsa_record(rr);
        if (num(h, "tlsa_records", &v) && (size_t)v > json_array_size(rrs))
            printf("        (%zu more not shown)\n", (size_t)v - json_array_size(rrs));
    }
    if (str(h, "error") != NULL)
        printf("      error      %s\n", str(h, "error"));
}

/* print_sts - the MTA-STS state */
static void print_sts(const json_t *s, const char *source)
{
    printf("\nMTA-STS          %s\n", str_or(s, "state", "?"));
    printf("  record id      %s\n", str_or(s, "record_id", "(none seen)"));
    const json_t *p = json_object_get(s, "policy");
    if (json_is_object(p)) {
        json_int_t max_age = 0, age = 0;
        num(p, "max_age", &max_age);
        printf("  policy id      %s\n", str_or(p, "id", "?"));
        printf("  mode           %s\n", str_or(p, "mode", "?"));
        printf("  mx             ");
        size_t i;
        const json_t *m;
        json_array_foreach(json_object_get(p, "mx"), i, m)
            printf("%s%s", i > 0 ? " " : "", json_string_value(m) ? json_string_value(m) : "?");
        printf("\n");
        printf("  max_age        %" JSON_INTEGER_FORMAT " s\n", max_age);
        if (num(p, "age", &age))
            printf("  cache age      %" JSON_INTEGER_FORMAT " s (%s)\n", age,
                   json_is_true(json_object_get(p, "cached")) ? "from the cache"
                                                              : "fetched for this query");
    }
    printf("  source         %s\n", source);
    if (str(s, "failure") != NULL)
        printf("  failure        %s\n", str(s, "failure"));
    const char *why = str(s, "why");
    if (why != NULL && why[0] != '\0')
        printf("  why            %s\n", why);
}

/* print_store - mxtlsd's persistent cache: backlog and what happened to its file */
static void print_store(const json_t *c)
{
    json_int_t queued = 0, oldest = 0, failed = 0, dropped = 0, lost = 0, from = 0;
    num(c, "queued", &queued);
    num(c, "oldest_ms", &oldest);
    num(c, "failed_writes", &failed);
    num(c, "dropped_writes", &dropped);
    num(c, "file_lost", &lost);
    printf("\nCache store      %s (%s)\n", str_or(c, "state", "?"), str_or(c, "file", "?"));
    printf("  not on disk    %" JSON_INTEGER_FORMAT " writes, oldest %" JSON_INTEGER_FORMAT
           " ms; %" JSON_INTEGER_FORMAT " failed, %" JSON_INTEGER_FORMAT " dropped\n",
           queued, oldest, failed, dropped);
    if (str(c, "last_error") != NULL)
        printf("  last error     %s\n", str(c, "last_error"));
    if (lost > 0)
        printf(
            "  warning        the file was deleted or replaced while running (%" JSON_INTEGER_FORMAT
            " times); recreated and rewritten from memory\n",
            lost);
    if (num(c, "shrank_from", &from))
        printf("  warning        %s\n", str_or(c, "start_warning", "the file lost its policies"));
}

/* print_text - the explanation for a person */
static void print_text(const json_t *root, const struct query_options *o)
{
    const char *reply = str_or(root, "reply", "?");
    const char *domain = str(root, "domain");
    json_int_t port = 25;
    num(root, "port", &port);
    printf("%s (zone %s)\n", o->nexthop, o->zone);
    printf("  Postfix gets   %s\n", reply);
    const char *rule = str(root, "rule");
    const char *rtext = rule != NULL ? rule_text(rule) : NULL;
    if (rule == NULL && str(root, "key") != NULL) /* session.c: not a next-hop it looks up */
        printf("  rule           not looked up (%s): parent-domain probes, IP literals and "
               "invalid names\n",
               str_or(root, "why", "?"));
    else if (rtext != NULL)
        printf("  rule           %s: %s\n", rule, rtext);
    else if (rule != NULL)
        printf("  rule           %s\n", rule);
    if (domain == NULL)
        return;
    printf("  DANE           %s\n", str_or(root, "dane", "?"));
    printf("  looked up      %s%s%s, port %" JSON_INTEGER_FORMAT "\n",
           json_is_true(json_object_get(root, "bracketed")) ? "[" : "", domain,
           json_is_true(json_object_get(root, "bracketed")) ? "]" : "", port);

    const json_t *mx = json_object_get(root, "mx");
    if (json_is_object(mx)) {
        json_int_t age = 0;
        const char *dnssec = str(mx, "dnssec");
        printf("\nMX               %s", str_or(mx, "answer", "?"));
        if (dnssec != NULL)
            printf(", DNSSEC %s", dnssec);
        if (num(mx, "facts_age", &age))
            printf(" (facts %" JSON_INTEGER_FORMAT " s old)", age);
        printf("\n");
        if (str(mx, "error") != NULL)
            printf("  error          %s\n", str(mx, "error"));
        const json_t *hosts = json_object_get(mx, "hosts");
        if (json_array_size(hosts) > 0)
            printf("  hosts\n");
        size_t i;
        const json_t *h;
        json_array_foreach(hosts, i, h) print_host(h);
    }
    const json_t *sts = json_object_get(root, "mta_sts");
    if (json_is_object(sts))
        print_sts(sts, str_or(root, "mta_sts_source", "?"));
    const json_t *store = json_object_get(root, "cache_store");
    if (json_is_object(store))
        print_store(store);
}

/* cmd_query - see cmd.h */
int cmd_query(int argc, char **argv)
{
    struct query_options o;
    int rc = parse_options(argc, argv, &o);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "Try 'mxtls query --help'.\n");
        return rc > 0 ? 0 : MXTLS_EX_USAGE;
    }

    struct mxtls_config cfg;
    struct mxtls_diag d = {0};
    int err = o.config != NULL ? config_load_file(o.config, &cfg, &d) : config_init_defaults(&cfg);
    if (err < 0) {
        fprintf(stderr, "mxtls query: %s\n", o.config != NULL ? d.what : "out of memory");
        if (err != MXTLS_ENOMEM)
            config_finish(&cfg);
        return QUERY_ERROR;
    }
    if (o.direct)
        log_open("mxtls", o.verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN, NULL);

    char why[QUERY_ERR_MAX] = "";
    char *text =
        o.direct ? run_direct(&cfg, &o, why, sizeof(why)) : ask_daemon(&cfg, &o, why, sizeof(why));
    config_finish(&cfg);
    if (text == NULL) {
        fprintf(stderr, "mxtls query: %s\n", why);
        return QUERY_ERROR;
    }

    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    const char *reply = json_is_object(root) ? str(root, "reply") : NULL;
    if (reply == NULL) {
        fprintf(stderr, "mxtls query: the explanation is not what mxtlsd sends (%s): %.200s\n",
                root == NULL ? jerr.text : "no \"reply\"", text);
        json_decref(root);
        free(text);
        return QUERY_ERROR;
    }
    rc = reply_status(reply);
    if (o.json)
        printf("%s\n", text);
    else
        print_text(root, &o);
    json_decref(root);
    free(text);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "mxtls query: writing the output: %s\n", strerror(errno));
        return QUERY_ERROR;
    }
    return rc;
}
