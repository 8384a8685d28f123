/*
 * load - a socketmap load generator shaped like Postfix: many persistent
 * TCP connections, exactly one request outstanding on each, the next request
 * sent as soon as the reply arrives.
 *
 *   load -a ADDR -p PORT -k KEYFILE [-c CONNS] [-d SECONDS] [-w SECONDS]
 *        [-z NAME] [-t THREADS] [-e REPLY] [-T SECONDS] [--once]
 *
 * KEYFILE holds one request key per line, optionally followed by a TAB and
 * the exact reply payload expected for it. A reply that differs from the
 * expected one counts as "wrong", so a server that answers fast but wrongly
 * (TEMP, NOTFOUND, another domain's policy) cannot win; -e REPLY expects the
 * same reply for every key (the floor server).
 *
 * Timed mode (default): keys are taken in turn, cycling, by whichever
 * connection is ready; replies completed during the WARMUP seconds are not
 * counted, then replies completed during the next SECONDS are counted and
 * their latencies (send to last reply octet, CLOCK_MONOTONIC) recorded.
 * --once: each key is sent exactly once (a cold burst) and the run ends
 * when every reply is in, or after -T seconds (then it fails).
 *
 * Output: one line of key=value pairs on stdout (requests, seconds, rps,
 * p50_us, p90_us, p99_us, max_us, ok, notfound, temp, perm, other, wrong,
 * errors, and load_cpu: the generator's own CPU time in % of one core, so
 * a saturated generator shows); the first few wrong replies on stderr. Exit status 0 when every
 * counted reply was the expected one and no connection failed, 1 otherwise,
 * 2 for usage errors.
 *
 * Each thread runs its own epoll loop over its share of the connections;
 * the key cursor is shared (one atomic counter).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mxtls/netstring.h"

#define MAX_KEY     255   /* a domain name, with room for brackets and port */
#define MAX_REPLY   10000 /* payload cap for replies */
#define REQ_BUF     (MAX_KEY + 300)
#define RSP_BUF     (MAX_REPLY + 16)
#define MAX_CONNS   4096
#define MAX_THREADS 16
#define SHOW_WRONG  5
#define WAIT_MS     50

enum kind { K_OK, K_NOTFOUND, K_TEMP, K_PERM, K_OTHER, K_NKINDS };
static const char *const kind_name[K_NKINDS] = {"ok", "notfound", "temp", "perm", "other"};

struct key {
    char *name;
    char *expect; /* NULL: any reply is accepted */
};

struct conn {
    int fd;
    size_t key;       /* index of the key in flight */
    uint64_t sent_ns; /* when the request was written */
    int busy;         /* a request is in flight */
    size_t rlen;
    char rbuf[RSP_BUF];
};

struct stats {
    uint64_t *lat; /* nanoseconds, one per counted reply */
    size_t nlat, cap;
    uint64_t kinds[K_NKINDS];
    uint64_t wrong, errors;
};

struct worker {
    pthread_t tid;
    struct conn *conns;
    int nconns;
    struct stats st;
};

static struct {
    struct sockaddr_in sa;
    const char *zone;
    struct key *keys;
    size_t nkeys;
    const char *expect_all;
    int once;
    uint64_t t_start, t_measure, t_end; /* ns; t_end is the deadline in --once */
    atomic_size_t cursor;               /* next key (timed: modulo nkeys) */
    atomic_size_t done;                 /* --once: replies received */
    atomic_int shown;                   /* wrong replies printed so far */
} G;

/* now_ns - CLOCK_MONOTONIC in nanoseconds */
static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* die - print a message and exit with status 2 (setup failures) */
static void die(const char *msg)
{
    fprintf(stderr, "load: %s\n", msg);
    exit(2);
}

/* load_keys - read KEYFILE: "key[\texpected reply]" per line */
static void load_keys(const char *path)
{
    FILE *fp = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, n = 0;
    ssize_t len;

    if (fp == NULL) {
        perror(path);
        exit(2);
    }
    while ((len = getline(&line, &cap, fp)) >= 0) {
        char *tab;

        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        if (n == G.nkeys) {
            G.keys = realloc(G.keys, (n * 2 + 64) * sizeof *G.keys);
            if (G.keys == NULL)
                die("out of memory");
        }
        tab = strchr(line, '\t');
        if (tab != NULL)
            *tab++ = '\0';
        if (strlen(line) > MAX_KEY)
            die("key longer than 255 octets in the key file");
        G.keys[n].name = strdup(line);
        G.keys[n].expect = tab != NULL ? strdup(tab) : NULL;
        if (G.keys[n].name == NULL || (tab != NULL && G.keys[n].expect == NULL))
            die("out of memory");
        G.nkeys = ++n;
    }
    free(line);
    fclose(fp);
    if (n == 0)
        die("no keys in the key file");
}

/* conn_open - a blocking connect, then non-blocking with TCP_NODELAY */
static int conn_open(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&G.sa, sizeof G.sa) < 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* next_key - claim the next key; -1 when --once has handed out all of them */
static long next_key(void)
{
    size_t i = atomic_fetch_add(&G.cursor, 1);

    if (G.once)
        return i < G.nkeys ? (long)i : -1;
    return (long)(i % G.nkeys);
}

/* conn_send - send the next request; 1 sent, 0 nothing left, -1 error */
static int conn_send(struct conn *c)
{
    char payload[REQ_BUF], wire[REQ_BUF + 16];
    size_t wlen;
    long k = next_key();
    int plen;

    if (k < 0)
        return 0;
    plen = snprintf(payload, sizeof payload, "%s %s", G.zone, G.keys[k].name);
    if (netstring_encode(payload, (size_t)plen, wire, sizeof wire, &wlen, NULL) != 0)
        return -1;
    c->key = (size_t)k;
    c->sent_ns = now_ns();
    c->busy = 1;
    c->rlen = 0;
    /* The request is far smaller than any socket buffer: one write does it. */
    if (write(c->fd, wire, wlen) != (ssize_t)wlen)
        return -1;
    return 1;
}

/* kind_of - the reply's kind from its first word */
static enum kind kind_of(const char *p, size_t n)
{
    static const struct {
        const char *w;
        enum kind k;
    } words[] = {{"OK", K_OK}, {"NOTFOUND", K_NOTFOUND}, {"TEMP", K_TEMP}, {"PERM", K_PERM}};
    size_t i, wl;

    for (i = 0; i < sizeof words / sizeof words[0]; i++) {
        wl = strlen(words[i].w);
        if (n >= wl && memcmp(p, words[i].w, wl) == 0 && (n == wl || p[wl] == ' '))
            return words[i].k;
    }
    return K_OTHER;
}

/* stats_add - count one reply received at time t */
static void stats_add(struct stats *st, const struct conn *c, const char *p, size_t n, uint64_t t)
{
    const char *want = G.expect_all != NULL ? G.expect_all : G.keys[c->key].expect;
    int wrong = want != NULL && (strlen(want) != n || memcmp(want, p, n) != 0);

    if (!G.once && (t < G.t_measure || t >= G.t_end))
        return;
    if (st->nlat == st->cap) {
        st->cap = st->cap * 2 + 4096;
        st->lat = realloc(st->lat, st->cap * sizeof *st->lat);
        if (st->lat == NULL)
            die("out of memory");
    }
    st->lat[st->nlat++] = t - c->sent_ns;
    st->kinds[kind_of(p, n)]++;
    if (wrong) {
        st->wrong++;
        if (atomic_fetch_add(&G.shown, 1) < SHOW_WRONG)
            fprintf(stderr, "load: wrong reply for '%s': got '%.*s', want '%s'\n",
                    G.keys[c->key].name, (int)n, p, want);
    }
}

/* conn_read - read what arrived; 1 reply complete, 0 need more, -1 error */
static int conn_read(struct worker *w, struct conn *c)
{
    struct netstring_frame f;
    ssize_t r;
    int rc;

    r = read(c->fd, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (r <= 0)
        return -1;
    c->rlen += (size_t)r;
    rc = netstring_decode(c->rbuf, c->rlen, MAX_REPLY, &f, NULL);
    if (rc == MXTLS_EAGAIN)
        return 0;
    if (rc != 0 || f.consumed != c->rlen) /* garbage, or a reply nobody asked for */
        return -1;
    stats_add(&w->st, c, f.data, f.len, now_ns());
    c->busy = 0;
    if (G.once)
        atomic_fetch_add(&G.done, 1);
    return 1;
}

/* worker_run - one epoll loop over this thread's connections */
static void *worker_run(void *arg)
{
    struct worker *w = arg;
    struct epoll_event ev, evs[64];
    int ep = epoll_create1(EPOLL_CLOEXEC), i, n, live = w->nconns;

    if (ep < 0)
        die("epoll_create1 failed");
    for (i = 0; i < w->nconns; i++) {
        struct conn *c = &w->conns[i];

        ev.events = EPOLLIN;
        ev.data.ptr = c;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
            die("epoll_ctl failed");
        if (conn_send(c) <= 0) {
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            live--;
        }
    }
    while (live > 0) {
        uint64_t t = now_ns();

        if (t >= G.t_end)
            break;
        n = epoll_wait(ep, evs, 64, WAIT_MS);
        for (i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            int rc = conn_read(w, c);

            if (rc == 1)
                rc = now_ns() < G.t_end ? conn_send(c) : 0;
            else if (rc == 0)
                continue;
            if (rc <= 0) {
                if (rc < 0)
                    w->st.errors++;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                live--;
            }
        }
    }
    for (i = 0; i < w->nconns; i++)
        if (G.once && w->conns[i].busy)
            w->st.errors++; /* no reply before the deadline */
    close(ep);
    return NULL;
}

/* cmp_u64 - qsort order for latencies */
static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* pct_us - the q-quantile (nearest rank) of sorted latencies, microseconds */
static double pct_us(const uint64_t *v, size_t n, double q)
{
    size_t i;

    if (n == 0)
        return 0;
    i = (size_t)(q * (double)n);
    if (i >= n)
        i = n - 1;
    return (double)v[i] / 1000.0;
}

/* usage - print the synopsis and exit 2 */
static void usage(void)
{
    fprintf(stderr, "usage: load -a ADDR -p PORT -k KEYFILE [-c CONNS] [-d SECONDS] [-w SECONDS]\n"
                    "            [-z NAME] [-t THREADS] [-e REPLY] [-T SECONDS] [--once]\n");
    exit(2);
}

/* num - a positive decimal option value, bounded */
static long num(const char *s, long max)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > max)
        usage();
    return v;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"once", no_argument, NULL, 'o'}, {NULL, 0, NULL, 0}};
    const char *addr = "127.0.0.1", *keyfile = NULL;
    long port = 0, conns = 16, dur = 10, warm = 2, threads = 1, timeout = 300;
    struct worker w[MAX_THREADS];
    struct stats all = {0};
    uint64_t t_done;
    struct rusage ru0, ru1;
    double secs, cpu;
    int opt, i, k;

    G.zone = "postfix";
    while ((opt = getopt_long(argc, argv, "a:p:c:d:w:k:z:t:e:T:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'a':
            addr = optarg;
            break;
        case 'p':
            port = num(optarg, 65535);
            break;
        case 'c':
            conns = num(optarg, MAX_CONNS);
            break;
        case 'd':
            dur = num(optarg, 86400);
            break;
        case 'w':
            warm = num(optarg, 86400);
            break;
        case 'k':
            keyfile = optarg;
            break;
        case 'z':
            G.zone = optarg;
            break;
        case 't':
            threads = num(optarg, MAX_THREADS);
            break;
        case 'e':
            G.expect_all = optarg;
            break;
        case 'T':
            timeout = num(optarg, 86400);
            break;
        case 'o':
            G.once = 1;
            break;
        default:
            usage();
        }
    }
    if (optind != argc || keyfile == NULL || port == 0 || conns == 0 || threads == 0 ||
        (!G.once && dur == 0) || strlen(G.zone) > 64)
        usage();
    if (threads > conns)
        threads = conns;
    G.sa.sin_family = AF_INET;
    G.sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, addr, &G.sa.sin_addr) != 1)
        die("-a wants an IPv4 address");
    load_keys(keyfile);

    /* Connect everything first, so connection set-up is never measured. */
    for (i = 0; i < threads; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].nconns = (int)(conns / threads + (i < conns % threads));
        w[i].conns = calloc((size_t)w[i].nconns, sizeof *w[i].conns);
        if (w[i].conns == NULL)
            die("out of memory");
        for (k = 0; k < w[i].nconns; k++)
            if ((w[i].conns[k].fd = conn_open()) < 0) {
                fprintf(stderr, "load: connect %s:%ld: %s\n", addr, port, strerror(errno));
                return 1;
            }
    }
    getrusage(RUSAGE_SELF, &ru0);
    G.t_start = now_ns();
    if (G.once) {
        G.t_measure = G.t_start;
        G.t_end = G.t_start + (uint64_t)timeout * 1000000000u;
    } else {
        G.t_measure = G.t_start + (uint64_t)warm * 1000000000u;
        G.t_end = G.t_measure + (uint64_t)dur * 1000000000u;
    }
    for (i = 0; i < threads; i++)
        if (pthread_create(&w[i].tid, NULL, worker_run, &w[i]) != 0)
            die("pthread_create failed");
    for (i = 0; i < threads; i++)
        pthread_join(w[i].tid, NULL);
    t_done = now_ns();
    getrusage(RUSAGE_SELF, &ru1);
    cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec -
                   ru0.ru_stime.tv_sec) +
          (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec -
                   ru0.ru_stime.tv_usec) /
              1e6;

    for (i = 0; i < threads; i++) {
        struct stats *st = &w[i].st;

        all.lat = realloc(all.lat, (all.nlat + st->nlat + 1) * sizeof *all.lat);
        if (all.lat == NULL)
            die("out of memory");
        memcpy(all.lat + all.nlat, st->lat, st->nlat * sizeof *st->lat);
        all.nlat += st->nlat;
        for (k = 0; k < K_NKINDS; k++)
            all.kinds[k] += st->kinds[k];
        all.wrong += st->wrong;
        all.errors += st->errors;
        for (k = 0; k < w[i].nconns; k++)
            close(w[i].conns[k].fd);
        free(st->lat);
        free(w[i].conns);
    }
    qsort(all.lat, all.nlat, sizeof *all.lat, cmp_u64);
    secs = G.once ? (double)(t_done - G.t_start) / 1e9 : (double)dur;

    printf("requests=%zu seconds=%.3f rps=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f",
           all.nlat, secs, secs > 0 ? (double)all.nlat / secs : 0.0,
           pct_us(all.lat, all.nlat, 0.50), pct_us(all.lat, all.nlat, 0.90),
           pct_us(all.lat, all.nlat, 0.99),
           all.nlat ? (double)all.lat[all.nlat - 1] / 1000.0 : 0.0);
    for (k = 0; k < K_NKINDS; k++)
        printf(" %s=%llu", kind_name[k], (unsigned long long)all.kinds[k]);
    printf(" wrong=%llu errors=%llu load_cpu=%.0f\n", (unsigned long long)all.wrong,
           (unsigned long long)all.errors, 100.0 * cpu / ((double)(t_done - G.t_start) / 1e9));
    free(all.lat);
    if (G.once && all.nlat != G.nkeys)
        return 1;
    return all.wrong == 0 && all.errors == 0 ? 0 : 1;
}
