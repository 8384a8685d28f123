/*
 * test_cache_redis - the Redis cache backend (io/cache_redis.h) against real
 * redis-server (and redis-sentinel) processes this test starts on 127.0.0.1
 * with free ports, without persistence, and stops by PID (also at exit).
 * A missing redis-server is a failure, not a skip: CI installs it.
 *
 * Foreign and damaged records are written with hiredis directly, as another
 * program or an older mxtls would leave them: get says MXTLS_EINVAL, walk
 * skips and counts them, claim ignores them; none is ever applied.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "unit.h"

#include "cache_backend.h"
#include "cache_redis.h"
#include "config.h"

#define POLICY     "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: 86400\r\n"
#define POLICY_LF  "version: STSv1\nmode: testing\nmx: *.Example.NET\nmax_age: 600"
#define POLICY_LFC "version: STSv1\r\nmode: testing\r\nmx: *.example.net\r\nmax_age: 600\r\n"
#define PASSWORD   "s3cr3t-p@ss"

/* ---- the servers this test runs ---- */

#define MAX_PROCS 8

static pid_t procs[MAX_PROCS]; /* every child still running */
static char tmpdir[64];        /* sockets, sentinel configurations */

/* kill_all - at exit, also after a failed assertion: stop exactly our children */
static void kill_all(void)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (procs[i] > 0) {
            kill(procs[i], SIGKILL);
            waitpid(procs[i], NULL, 0);
            procs[i] = 0;
        }
    if (tmpdir[0] != '\0') { /* sockets and sentinel configurations: one level */
        DIR *dir = opendir(tmpdir);
        struct dirent *de;
        char path[sizeof(tmpdir) + 260];
        while (dir != NULL && (de = readdir(dir)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof(path), "%s/%s", tmpdir, de->d_name);
            unlink(path);
        }
        if (dir != NULL)
            closedir(dir);
        if (rmdir(tmpdir) != 0)
            fprintf(stderr, "could not remove %s: %s\n", tmpdir, strerror(errno));
    }
}

/* on_signal - killed (a test timeout): stop our servers too, then die of it */
static void on_signal(int sig)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (procs[i] > 0) {
            kill(procs[i], SIGKILL);
            waitpid(procs[i], NULL, 0); /* async-signal-safe: no zombie is left */
        }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* free_port - a TCP port on 127.0.0.1 nobody listens on now */
static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* now_ms - a monotonic clock */
static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* spawn - run argv (a redis program) in the background; its PID, recorded */
static pid_t spawn(char *const argv[])
{
    int slot = -1;
    pid_t pid;

    for (int i = 0; i < MAX_PROCS; i++)
        if (procs[i] == 0) {
            slot = i;
            break;
        }
    assert_true(slot >= 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            close(fd);
        }
        execvp(argv[0], argv);
        fprintf(stderr,
                "test_cache_redis: cannot run %s: %s (install redis-server and "
                "redis-sentinel)\n",
                argv[0], strerror(errno));
        _exit(127);
    }
    procs[slot] = pid;
    return pid;
}

/* stop - SIGTERM one child of ours and reap it */
static void stop(pid_t pid)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (procs[i] == pid) {
            kill(pid, SIGTERM);
            waitpid(pid, NULL, 0);
            procs[i] = 0;
        }
}

/* raw - a hiredis connection of the test's own, to look behind the backend's back */
static redisContext *raw_connect(int port, const char *password)
{
    struct timeval tv = {1, 0};
    redisContext *x = redisConnectWithTimeout("127.0.0.1", port, tv);

    if (x == NULL || x->err != 0) {
        if (x != NULL)
            redisFree(x);
        return NULL;
    }
    redisSetTimeout(x, tv);
    if (password != NULL) {
        redisReply *r = redisCommand(x, "AUTH %s", password);
        freeReplyObject(r);
    }
    return x;
}

/* wait_up - until the server at port answers PING (or NOAUTH: it is up) */
static void wait_up(pid_t pid, int port)
{
    long long until = now_ms() + 10000;

    for (;;) {
        redisContext *x = raw_connect(port, NULL);
        if (x != NULL) {
            redisReply *r = redisCommand(x, "PING");
            bool up = r != NULL && (r->type == REDIS_REPLY_STATUS ||
                                    (r->type == REDIS_REPLY_ERROR && strstr(r->str, "NOAUTH")));
            freeReplyObject(r);
            redisFree(x);
            if (up)
                return;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            for (int i = 0; i < MAX_PROCS; i++)
                if (procs[i] == pid)
                    procs[i] = 0;
            fail_msg("redis on port %d exited at startup (status %d): is redis-server installed?",
                     port, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        }
        if (now_ms() > until)
            fail_msg("redis on port %d did not answer within 10 s", port);
        usleep(20000);
    }
}

/* start_redis - redis-server on 127.0.0.1:port, no persistence, extra options after */
static pid_t start_redis(int port, const char *password, const char *unixsock)
{
    char p[16];
    char *argv[32];
    int n = 0;

    snprintf(p, sizeof(p), "%d", port);
    argv[n++] = "redis-server";
    argv[n++] = "--port";
    argv[n++] = p;
    argv[n++] = "--bind";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--save";
    argv[n++] = "";
    argv[n++] = "--appendonly";
    argv[n++] = "no";
    argv[n++] = "--daemonize";
    argv[n++] = "no";
    argv[n++] = "--dir";
    argv[n++] = tmpdir;
    argv[n++] = "--dbfilename";
    argv[n++] = p; /* never written (no save), but not the shared default */
    if (password != NULL) {
        argv[n++] = "--requirepass";
        argv[n++] = (char *)password;
    }
    if (unixsock != NULL) {
        argv[n++] = "--unixsocket";
        argv[n++] = (char *)unixsock;
        argv[n++] = "--unixsocketperm";
        argv[n++] = "700";
    }
    argv[n] = NULL;
    pid_t pid = spawn(argv);
    wait_up(pid, port);
    return pid;
}

/* The shared server most tests use (started by main). */
static int main_port;

/* flush - empty every database of the main server */
static void flush(void)
{
    redisContext *x = raw_connect(main_port, NULL);
    assert_non_null(x);
    freeReplyObject(redisCommand(x, "FLUSHALL"));
    redisFree(x);
}

/* raw_cmd - one command on the main server's db 0; the reply (caller frees) */
static redisReply *raw_cmd(int port, int db, const char *fmt, ...)
{
    redisContext *x = raw_connect(port, NULL);
    va_list ap;
    redisReply *r;

    assert_non_null(x);
    if (db != 0)
        freeReplyObject(redisCommand(x, "SELECT %d", db));
    va_start(ap, fmt);
    r = redisvCommand(x, fmt, ap);
    va_end(ap);
    redisFree(x);
    assert_non_null(r);
    return r;
}

/* raw_int - an integer reply of raw_cmd */
static long long raw_int(int port, int db, const char *fmt, const char *key)
{
    redisReply *r = raw_cmd(port, db, fmt, key);
    long long v;
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    v = r->integer;
    freeReplyObject(r);
    return v;
}

/* ---- the backend ---- */

/* open_url - a connection to url with timeouts of ms */
static struct cache_backend *open_url(const char *url, unsigned ms)
{
    struct cache_backend_options o = {.path = url, .busy_ms = ms};
    struct cache_backend *b = NULL;
    struct mxtls_diag d = {0};
    int rc = cache_backend_open("redis", &o, &b, &d);
    if (rc != 0)
        fail_msg("open %s: %s", url, d.what);
    return b;
}

/* open_main - a connection to the main server */
static struct cache_backend *open_main(void)
{
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", main_port);
    return open_url(url, 2000);
}

/* entry - fill e with borrowed text (put does not take ownership) */
static void entry(struct cache_entry *e, const char *domain, const char *id, int64_t fetched,
                  int64_t checked, const char *text)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->domain, sizeof(e->domain), "%s", domain);
    snprintf(e->id, sizeof(e->id), "%s", id);
    e->fetched_at = fetched;
    e->checked_at = checked;
    e->policy_text = (char *)(uintptr_t)text;
    e->policy_len = strlen(text);
}

static int64_t wall(void)
{
    return (int64_t)time(NULL);
}

/* put_ok - put and insist it worked */
static void put_ok(struct cache_backend *b, const struct cache_entry *e)
{
    struct mxtls_diag d = {0};
    int rc = b->ops->put(b, e, &d);
    if (rc != 0)
        fail_msg("put %s: %d %s", e->domain, rc, d.what);
}

/* ---- URL parsing ---- */

struct url_case {
    const char *rule;
    const char *url;
    int err;
    bool unix_socket;
    const char *host_or_path;
    int port;
    int db;
    const char *user;
    const char *pass;
    const char *why; /* substring of the diag on failure */
};

static const struct url_case url_cases[] = {
    {"host only: port 6379, no db", "redis://localhost", 0, false, "localhost", 6379, -1, "", "",
     NULL},
    {"host, port and db", "redis://10.0.0.1:6380/3", 0, false, "10.0.0.1", 6380, 3, "", "", NULL},
    {"password only (redis-py ':pass@')", "redis://:pa%40ss@h:1/0", 0, false, "h", 1, 0, "",
     "pa@ss", NULL},
    {"username and password, percent-decoded", "redis://u%3Ax:p%25w@h/", 0, false, "h", 6379, -1,
     "u:x", "p%w", NULL},
    {"IPv6 literal in brackets", "redis://[::1]:7000/2", 0, false, "::1", 7000, 2, "", "", NULL},
    {"query db wins over the path", "redis://h/1?db=5&socket_timeout=3", 0, false, "h", 6379, 5, "",
     "", NULL},
    {"query password when the userinfo has none", "redis://h?password=x%26y", 0, false, "h", 6379,
     -1, "", "x&y", NULL},
    {"unix socket with db", "unix:///run/redis/r.sock?db=4", 0, true, "/run/redis/r.sock", 0, 4, "",
     "", NULL},
    {"unix socket with a password", "unix://:pw@/tmp/r.sock", 0, true, "/tmp/r.sock", 0, -1, "",
     "pw", NULL},
    {"scheme in upper case", "REDIS://h:2", 0, false, "h", 2, -1, "", "", NULL},
    {"rediss refused: TLS to Redis not supported", "rediss://h:6380", MXTLS_EINVAL, false, NULL, 0,
     0, NULL, NULL, "TLS to Redis not supported"},
    {"other scheme refused", "http://h", MXTLS_EINVAL, false, NULL, 0, 0, NULL, NULL,
     "expected redis://"},
    {"port 0 refused", "redis://h:0", MXTLS_EINVAL, false, NULL, 0, 0, NULL, NULL, "port"},
    {"port 65536 refused", "redis://h:65536", MXTLS_EINVAL, false, NULL, 0, 0, NULL, NULL, "port"},
    {"empty port refused", "redis://h:", MXTLS_EINVAL, false, NULL, 0, 0, NULL, NULL, "port"},
    {"db that is not a number refused", "redis://h/x", MXTLS_EINVAL, false, NULL, 0, 0, NULL, NULL,
     "database number"},
    {"db over 65535 refused", "redis://h/65536", MXTLS_EINVAL, false, NULL, 0, 0, NULL, NULL,
     "database number"},
    {"empty host refused", "redis://:6379", MXTLS_EINVAL, false, NULL, 0, 0, NULL, NULL, "host"},
    {"host with a space refused", "redis://a b", MXTLS_EINVAL, false, NULL, 0, 0, NULL, NULL,
     "host"},
    {"unclosed IPv6 bracket refused", "redis://[::1:6379", MXTLS_EINVAL, false, NULL, 0, 0, NULL,
     NULL, "]"},
    {"bad percent escape refused, password not quoted", "redis://:secret%zz@h", MXTLS_EINVAL, false,
     NULL, 0, 0, NULL, NULL, "percent"},
    {"encoded NUL refused", "redis://:a%00b@h", MXTLS_EINVAL, false, NULL, 0, 0, NULL, NULL,
     "percent"},
    {"unix without a path refused", "unix://", MXTLS_EINVAL, false, NULL, 0, 0, NULL, NULL, "path"},
    {"unix with a host refused", "unix://host/tmp/x", MXTLS_EINVAL, false, NULL, 0, 0, NULL, NULL,
     "path"},
    {"unix path over 107 octets refused",
     "unix:///"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaa",
     MXTLS_ETOOLONG, false, NULL, 0, 0, NULL, NULL, "107"},
    {"query without '=' refused", "redis://h?db", MXTLS_EINVAL, false, NULL, 0, 0, NULL, NULL,
     "key=value"},
    {"fragment refused", "redis://h#x", MXTLS_EINVAL, false, NULL, 0, 0, NULL, NULL, "fragment"},
};

static void test_url(void **state)
{
    const struct url_case *r = *state;
    struct cache_redis_url u;
    struct mxtls_diag d = {0};
    int rc = cache_redis_parse_url(r->url, strlen(r->url), &u, &d);

    assert_int_equal(rc, r->err);
    if (rc != 0) {
        if (strstr(d.what, r->why) == NULL)
            fail_msg("diag \"%s\" lacks \"%s\"", d.what, r->why);
        assert_null(strstr(d.what, "secret"));
        return;
    }
    assert_int_equal(u.unix_socket, r->unix_socket);
    assert_string_equal(r->unix_socket ? u.path : u.host, r->host_or_path);
    if (!r->unix_socket)
        assert_int_equal(u.port, r->port);
    assert_int_equal(u.db, r->db);
    assert_string_equal(u.username, r->user);
    assert_string_equal(u.password, r->pass);
}

struct addr_case {
    const char *rule;
    const char *addr;
    int err;
    const char *host;
    int port;
};

static const struct addr_case addr_cases[] = {
    {"sentinel host:port", "10.0.0.1:26379", 0, "10.0.0.1", 26379},
    {"sentinel [v6]:port", "[fe80::1]:26380", 0, "fe80::1", 26380},
    {"sentinel without a port refused", "10.0.0.1", MXTLS_EINVAL, NULL, 0},
    {"sentinel with port 0 refused", "h:0", MXTLS_EINVAL, NULL, 0},
    {"sentinel with an empty host refused", ":1", MXTLS_EINVAL, NULL, 0},
};

static void test_addr(void **state)
{
    const struct addr_case *r = *state;
    char host[CACHE_REDIS_HOST_MAX + 1];
    uint16_t port = 0;

    assert_int_equal(cache_redis_parse_addr(r->addr, strlen(r->addr), host, &port, NULL), r->err);
    if (r->err == 0) {
        assert_string_equal(host, r->host);
        assert_int_equal(port, r->port);
    }
}

/* ---- records ---- */

static void test_round_trip(void **state)
{
    struct cache_backend *b = open_main();
    struct cache_entry e, got;
    struct mxtls_diag d = {0};
    int64_t t = wall();

    (void)state;
    flush();
    entry(&e, "MTA-STS.Example.NET.", "20160831085700Z", t, t + 1, POLICY_LF);
    e.failed_at = t - 5;
    put_ok(b, &e);
    assert_int_equal(b->ops->get(b, "mta-sts.example.net", &got, &d), 0);
    assert_string_equal(got.domain, "mta-sts.example.net");
    assert_string_equal(got.id, "20160831085700Z");
    assert_int_equal(got.fetched_at, t);
    assert_int_equal(got.checked_at, t + 1);
    assert_int_equal(got.failed_at, t - 5);
    assert_string_equal(got.policy_text, POLICY_LFC); /* stored canonical */
    assert_int_equal(got.policy_len, strlen(POLICY_LFC));
    assert_null(got.policy);
    cache_entry_finish(&got);
    /* absent: ENOTFOUND; del: 0 then ENOTFOUND */
    assert_int_equal(b->ops->get(b, "other.example", &got, &d), MXTLS_ENOTFOUND);
    assert_int_equal(b->ops->del(b, "MTA-STS.example.net", &d), 0);
    assert_int_equal(b->ops->get(b, "mta-sts.example.net", &got, &d), MXTLS_ENOTFOUND);
    assert_int_equal(b->ops->del(b, "mta-sts.example.net", &d), MXTLS_ENOTFOUND);
    cache_backend_close(b);
}

struct put_bad {
    const char *rule;
    const char *domain;
    const char *id;
    int64_t t;
    const char *text;
    int err;
};

static const struct put_bad put_bad_cases[] = {
    {"put: empty id rejected (RFC 8461 §3.1)", "example.com", "", 5, POLICY, MXTLS_EINVAL},
    {"put: id with '-' rejected (RFC 8461 §3.1)", "example.com", "a-b", 5, POLICY, MXTLS_EINVAL},
    {"put: invalid domain rejected", "exa mple.com", "1", 5, POLICY, MXTLS_EINVAL},
    {"put: negative timestamp rejected", "example.com", "1", -1, POLICY, MXTLS_EINVAL},
    {"put: policy that does not parse rejected (RFC 8461 §3.2)", "example.com", "1", 5,
     "version: STSv2\r\nmode: enforce\r\nmax_age: 1\r\n", MXTLS_EINVAL},
};

static void test_put_bad(void **state)
{
    const struct put_bad *r = *state;
    struct cache_backend *b = open_main();
    struct cache_entry e;

    entry(&e, r->domain, r->id, r->t, r->t, r->text);
    assert_int_equal(b->ops->put(b, &e, NULL), r->err);
    cache_backend_close(b);
}

/* the newer record wins whoever writes last (the rule in cache_redis.c) */
static void test_newer_wins(void **state)
{
    struct cache_backend *b = open_main();
    struct cache_entry e, got;
    int64_t t = wall();

    (void)state;
    flush();
    entry(&e, "example.com", "new", t, t + 10, POLICY);
    put_ok(b, &e);
    entry(&e, "example.com", "old", t - 100, t + 50, POLICY_LF);
    put_ok(b, &e); /* fetched earlier: not stored, and not an error */
    assert_int_equal(b->ops->get(b, "example.com", &got, NULL), 0);
    assert_string_equal(got.id, "new");
    assert_int_equal(got.checked_at, t + 10);
    cache_entry_finish(&got);
    entry(&e, "example.com", "same", t, t + 5, POLICY);
    put_ok(b, &e); /* same fetch, checked earlier: kept */
    assert_int_equal(b->ops->get(b, "example.com", &got, NULL), 0);
    assert_string_equal(got.id, "new");
    cache_entry_finish(&got);
    entry(&e, "example.com", "new", t, t + 20, POLICY);
    put_ok(b, &e); /* same fetch, checked later: stored */
    assert_int_equal(b->ops->get(b, "example.com", &got, NULL), 0);
    assert_int_equal(got.checked_at, t + 20);
    cache_entry_finish(&got);
    entry(&e, "example.com", "newer", t + 1, t + 1, POLICY_LF);
    put_ok(b, &e); /* fetched later: stored */
    assert_int_equal(b->ops->get(b, "example.com", &got, NULL), 0);
    assert_string_equal(got.id, "newer");
    assert_string_equal(got.policy_text, POLICY_LFC);
    cache_entry_finish(&got);
    /* a damaged stored fetched_at does not block writes */
    freeReplyObject(
        raw_cmd(main_port, 0, "HSET mxtls:v1:policy:example.com fetched_at %s", "1e400"));
    entry(&e, "example.com", "fresh", t, t, POLICY);
    put_ok(b, &e);
    assert_int_equal(b->ops->get(b, "example.com", &got, NULL), 0);
    assert_string_equal(got.id, "fresh");
    cache_entry_finish(&got);
    cache_backend_close(b);
}

/* RFC 8461 §5.1: the key lives until fetched_at + max_age, no longer */
static void test_ttl(void **state)
{
    struct cache_backend *b = open_main();
    struct cache_entry e, got;
    int64_t t = wall();

    (void)state;
    flush();
    entry(&e, "example.com", "1", t - 100, t, POLICY); /* max_age 86400 */
    put_ok(b, &e);
    long long pttl = raw_int(main_port, 0, "PTTL %s", "mxtls:v1:policy:example.com");
    assert_true(pttl > 0);
    assert_true(pttl <= (86400 - 100 + 2) * 1000LL);
    assert_true(pttl >= (86400 - 100 - 10) * 1000LL);
    /* already expired at put: deleted, also over an older record */
    entry(&e, "expired.example", "2", t - 700, t, POLICY_LF);
    put_ok(b, &e);
    assert_int_equal(raw_int(main_port, 0, "EXISTS %s", "mxtls:v1:policy:expired.example"), 0);
    assert_int_equal(b->ops->get(b, "expired.example", &got, NULL), MXTLS_ENOTFOUND);
    entry(&e, "example.com", "3", t - 50, t, POLICY_LF); /* newer fetch, still expires: 550 s */
    put_ok(b, &e);
    pttl = raw_int(main_port, 0, "PTTL %s", "mxtls:v1:policy:example.com");
    assert_true(pttl > 0 && pttl <= 551000);
    entry(&e, "example.com", "4", t - 40, t, "version: STSv1\r\nmode: none\r\nmax_age: 10\r\n");
    put_ok(b, &e); /* newer than the stored one, but expired: the key goes */
    assert_int_equal(raw_int(main_port, 0, "EXISTS %s", "mxtls:v1:policy:example.com"), 0);
    cache_backend_close(b);
}

/* ---- foreign and damaged records ---- */

struct foreign_case {
    const char *rule;
    const char *cmd; /* run raw, with the big policy as its %s when it has one */
    const char *why;
};

#define HK "HSET mxtls:v1:policy:example.com "
#define OKF                                                                                        \
    "domain example.com id 1 fetched_at 100 checked_at 100 failed_at 0 policy "                    \
    "\"version: STSv1\\r\\nmode: enforce\\r\\nmx: a.example\\r\\nmax_age: 999999\\r\\n\""

static const struct foreign_case foreign_cases[] = {
    {"record format v=2 is foreign or newer", HK "v 2 " OKF, "newer record format"},
    {"record without v is foreign", HK OKF, "newer record format"},
    {"record naming another domain is foreign", HK "v 1 " OKF " domain example.org",
     "another domain"},
    {"a string at the key is foreign", "SET mxtls:v1:policy:example.com hello", "not a hash"},
    {"a list at the key is foreign", "RPUSH mxtls:v1:policy:example.com a", "not a hash"},
    {"id with '-' is invalid (RFC 8461 §3.1)", HK "v 1 " OKF " id a-b", "invalid id"},
    {"id of 33 characters is invalid (RFC 8461 §3.1)",
     HK "v 1 " OKF " id abcdefghijklmnopqrstuvwxyz0123456", "invalid id"},
    {"timestamp with a letter is invalid", HK "v 1 " OKF " fetched_at 12a", "invalid timestamp"},
    {"negative timestamp is invalid", HK "v 1 " OKF " checked_at -1", "invalid timestamp"},
    {"timestamp past 2^53 is invalid", HK "v 1 " OKF " failed_at 9007199254740992",
     "invalid timestamp"},
    {"missing policy is invalid",
     HK "v 1 domain example.com id 1 fetched_at 1 checked_at 1 "
        "failed_at 0",
     "no policy text"},
    {"policy that does not parse is invalid (RFC 8461 §3.2)",
     HK "v 1 " OKF " policy \"mode: enforce\"", "bad policy"},
    {"policy with a NUL is invalid",
     HK "v 1 " OKF " policy \"version: STSv1\\r\\nmode: none\\x00\\r\\nmax_age: 1\\r\\n\"", "NUL"},
    {"policy over 64 KiB is invalid (RFC 8461 §3.3)", NULL, "cap"},
};

/* raw_argv - a command split at spaces, honouring "..." with \r \n \x00 escapes */
static void raw_line(int port, const char *line)
{
    redisContext *x = raw_connect(port, NULL);
    char buf[2048];
    const char *argv[32];
    size_t lens[32];
    int argc = 0;
    size_t n = 0;
    const char *p = line;

    assert_non_null(x);
    while (*p != '\0') {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            break;
        argv[argc] = buf + n;
        if (*p == '"') {
            for (p++; *p != '"'; p++) {
                if (*p == '\\' && p[1] == 'r') {
                    buf[n++] = '\r';
                    p++;
                } else if (*p == '\\' && p[1] == 'n') {
                    buf[n++] = '\n';
                    p++;
                } else if (*p == '\\' && p[1] == 'x') {
                    buf[n++] = '\0'; /* only \x00 is used */
                    p += 3;
                } else {
                    buf[n++] = *p;
                }
            }
            p++;
        } else {
            while (*p != ' ' && *p != '\0')
                buf[n++] = *p++;
        }
        lens[argc] = (size_t)(buf + n - argv[argc]);
        argc++;
    }
    redisReply *r = redisCommandArgv(x, argc, argv, lens);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("%s: %s", line, r->str);
    freeReplyObject(r);
    redisFree(x);
}

/* never_cb - a walk that must find nothing valid */
static int never_cb(struct cache_entry *e, void *arg)
{
    (void)arg;
    fail_msg("walk handed back %s, an invalid record", e->domain);
    return 0;
}

static void test_foreign(void **state)
{
    const struct foreign_case *r = *state;
    struct cache_backend *b = open_main();
    struct cache_entry got;
    struct mxtls_diag d = {0};
    size_t bad = 99;

    flush();
    if (r->cmd != NULL) {
        raw_line(main_port, r->cmd);
    } else {
        size_t len = STS_POLICY_BODY_MAX + 100;
        char *big = malloc(len + 1);
        assert_non_null(big);
        int n = snprintf(big, len + 1, "version: STSv1\r\nmode: none\r\nmax_age: 1\r\n");
        memset(big + n, '\n', len - (size_t)n);
        redisContext *x = raw_connect(main_port, NULL);
        const char *argv[] = {"HSET",       "mxtls:v1:policy:example.com",
                              "v",          "1",
                              "domain",     "example.com",
                              "id",         "1",
                              "fetched_at", "1",
                              "checked_at", "1",
                              "failed_at",  "0",
                              "policy",     big};
        size_t lens[16];
        for (int i = 0; i < 16; i++)
            lens[i] = i == 15 ? len : strlen(argv[i]);
        freeReplyObject(redisCommandArgv(x, 16, argv, lens));
        redisFree(x);
        free(big);
    }
    int rc = b->ops->get(b, "example.com", &got, &d);
    assert_int_equal(rc, MXTLS_EINVAL);
    if (strstr(d.what, r->why) == NULL)
        fail_msg("diag \"%s\" lacks \"%s\"", d.what, r->why);
    assert_null(got.policy_text);
    /* walk skips and counts it */
    assert_int_equal(b->ops->walk(b, never_cb, NULL, &bad, &d), 0);
    assert_int_equal(bad, 1);
    /* claim does not hand it back: with id 1 it would have been HAVE */
    struct cache_claim cl;
    assert_int_equal(b->ops->claim(b, "example.com", "1", 0, "me:1", 10000, &cl, &d), 0);
    assert_int_equal(cl.outcome, CACHE_CLAIM_WON);
    cache_backend_close(b);
}

/* ---- walk ---- */

struct walk_seen {
    int n;
    int with_policy;
    int stop_at;
    char last[DOMAIN_BUF_SIZE];
};

static int walk_cb(struct cache_entry *e, void *arg)
{
    struct walk_seen *w = arg;

    w->n++;
    if (e->policy != NULL && e->policy->max_age == 86400 && e->policy_text != NULL &&
        strcmp(e->policy_text, POLICY) == 0)
        w->with_policy++;
    snprintf(w->last, sizeof(w->last), "%s", e->domain);
    if (w->n % 2 == 0 && e->policy != NULL) { /* take it, as a loader does */
        sts_policy_finish(e->policy);
        e->policy = NULL;
    }
    return w->stop_at != 0 && w->n == w->stop_at ? 42 : 0;
}

static void test_walk(void **state)
{
    struct cache_backend *b = open_main();
    struct cache_entry e;
    struct walk_seen w = {0};
    struct mxtls_diag d = {0};
    size_t bad = 0;
    int64_t t = wall();
    char dom[64];

    (void)state;
    flush();
    for (int i = 0; i < 300; i++) { /* more than one batch, several SCAN rounds */
        snprintf(dom, sizeof(dom), "d%d.example", i);
        entry(&e, dom, "1", t, t, POLICY);
        put_ok(b, &e);
    }
    raw_line(main_port, "SET mxtls:v1:policy:string.example x");
    raw_line(main_port, HK "v 2 " OKF);
    raw_line(main_port, "HSET mxtls:v1:policy:UPPER.example v 1");
    raw_line(main_port, "SET mxtls:v1:claim:d1.example someone"); /* not a policy key */
    raw_line(main_port, "SET unrelated:key 1");
    assert_int_equal(b->ops->walk(b, walk_cb, &w, &bad, &d), 0);
    assert_int_equal(w.n, 300);
    assert_int_equal(w.with_policy, 300);
    assert_int_equal(bad, 3);
    assert_true(d.what[0] != '\0'); /* the first bad one's reason */
    /* a non-zero callback value stops the walk and is returned */
    memset(&w, 0, sizeof(w));
    w.stop_at = 7;
    assert_int_equal(b->ops->walk(b, walk_cb, &w, &bad, &d), 42);
    assert_int_equal(w.n, 7);
    cache_backend_close(b);
}

/* ---- claim and mark_failed ---- */

static void test_claim(void **state)
{
    struct cache_backend *a = open_main(), *b = open_main();
    struct cache_claim c;
    struct cache_entry e;
    struct mxtls_diag d = {0};
    int64_t t = wall();

    (void)state;
    flush();
    assert_int_equal(a->ops->claim(a, "example.com", "id1", 0, "a:1", 10000, &c, &d), 0);
    assert_int_equal(c.outcome, CACHE_CLAIM_WON);
    assert_int_equal(b->ops->claim(b, "example.com", "id1", 0, "b:2", 10000, &c, &d), 0);
    assert_int_equal(c.outcome, CACHE_CLAIM_HELD);
    redisReply *r = raw_cmd(main_port, 0, "GET %s", "mxtls:v1:claim:example.com");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "a:1");
    freeReplyObject(r);
    /* its owner claiming again takes it again: a daemon never waits behind itself */
    assert_int_equal(a->ops->claim(a, "example.com", "id1", 0, "a:1", 20000, &c, &d), 0);
    assert_int_equal(c.outcome, CACHE_CLAIM_WON);
    long long pttl = raw_int(main_port, 0, "PTTL %s", "mxtls:v1:claim:example.com");
    assert_true(pttl > 10000 && pttl <= 20000);
    /* a fetched the policy: b sees it (HAVE) when it is newer than what b has */
    entry(&e, "example.com", "id1", t, t, POLICY);
    put_ok(a, &e);
    assert_int_equal(b->ops->claim(b, "Example.COM", "id1", t - 1, "b:2", 10000, &c, &d), 0);
    assert_int_equal(c.outcome, CACHE_CLAIM_HAVE);
    assert_string_equal(c.e.domain, "example.com");
    assert_string_equal(c.e.id, "id1");
    assert_int_equal(c.e.fetched_at, t);
    assert_string_equal(c.e.policy_text, POLICY);
    cache_entry_finish(&c.e);
    /* not newer than what b has: not HAVE (the claim is still a's) */
    assert_int_equal(b->ops->claim(b, "example.com", "id1", t, "b:2", 10000, &c, &d), 0);
    assert_int_equal(c.outcome, CACHE_CLAIM_HELD);
    assert_null(c.e.policy_text);
    /* another id: not HAVE */
    assert_int_equal(b->ops->claim(b, "example.com", "id2", 0, "b:2", 10000, &c, &d), 0);
    assert_int_equal(c.outcome, CACHE_CLAIM_HELD);
    /* a failed fetch of id2, told to the fleet */
    assert_int_equal(a->ops->mark_failed(a, "example.com", "id2", 2, t + 3,
                                         "HTTP 404 from\r\nmta-sts.example.com", 300, &d),
                     0);
    assert_int_equal(b->ops->claim(b, "example.com", "id2", 0, "b:2", 10000, &c, &d), 0);
    assert_int_equal(c.outcome, CACHE_CLAIM_FAILED);
    assert_int_equal(c.failure, 2);
    assert_int_equal(c.failed_at, t + 3);
    assert_string_equal(c.why, "HTTP 404 from??mta-sts.example.com");
    long long ttl = raw_int(main_port, 0, "TTL %s", "mxtls:v1:failed:example.com");
    assert_true(ttl > 290 && ttl <= 300);
    /* the failure names id2: id3 is not FAILED; id1 stays HAVE first */
    assert_int_equal(b->ops->claim(b, "example.com", "id3", 0, "b:2", 10000, &c, &d), 0);
    assert_int_equal(c.outcome, CACHE_CLAIM_HELD);
    assert_int_equal(b->ops->claim(b, "example.com", "id1", 0, "b:2", 10000, &c, &d), 0);
    assert_int_equal(c.outcome, CACHE_CLAIM_HAVE);
    cache_entry_finish(&c.e);
    /* a long why is cut to CACHE_CLAIM_WHY_MAX - 1 */
    char why[600];
    memset(why, 'w', sizeof(why) - 1);
    why[sizeof(why) - 1] = '\0';
    assert_int_equal(a->ops->mark_failed(a, "example.com", "id4", 0, t, why, 300, &d), 0);
    assert_int_equal(b->ops->claim(b, "example.com", "id4", 0, "b:2", 10000, &c, &d), 0);
    assert_int_equal(c.outcome, CACHE_CLAIM_FAILED);
    assert_int_equal(strlen(c.why), CACHE_CLAIM_WHY_MAX - 1);
    /* a damaged failure record is ignored, not FAILED */
    raw_line(main_port, "SET mxtls:v1:failed:example.com \"id5 x 1 why\"");
    assert_int_equal(b->ops->claim(b, "example.com", "id5", 0, "b:2", 10000, &c, &d), 0);
    assert_int_equal(c.outcome, CACHE_CLAIM_HELD);
    raw_line(main_port, "SET mxtls:v1:failed:example.com \"id5 1 1 bell\x07\"");
    assert_int_equal(b->ops->claim(b, "example.com", "id5", 0, "b:2", 10000, &c, &d), 0);
    assert_int_equal(c.outcome, CACHE_CLAIM_HELD);
    char line[400];
    snprintf(line, sizeof(line), "SET mxtls:v1:failed:example.com \"id5 1 1 %0300d\"", 0);
    raw_line(main_port, line); /* a why over CACHE_CLAIM_WHY_MAX - 1 octets */
    assert_int_equal(b->ops->claim(b, "example.com", "id5", 0, "b:2", 10000, &c, &d), 0);
    assert_int_equal(c.outcome, CACHE_CLAIM_HELD);
    raw_line(main_port, "SET mxtls:v1:failed:example.com \"id5 1 1 fine\"");
    assert_int_equal(b->ops->claim(b, "example.com", "id5", 0, "b:2", 10000, &c, &d), 0);
    assert_int_equal(c.outcome, CACHE_CLAIM_FAILED);
    assert_string_equal(c.why, "fine");
    /* bad arguments */
    assert_int_equal(b->ops->claim(b, "example.com", "a-b", 0, "b:2", 10000, &c, &d), MXTLS_EINVAL);
    assert_int_equal(b->ops->claim(b, "example.com", "id1", 0, "", 10000, &c, &d), MXTLS_EINVAL);
    assert_int_equal(b->ops->claim(b, "example.com", "id1", 0, "b:2", 0, &c, &d), MXTLS_EINVAL);
    assert_int_equal(a->ops->mark_failed(a, "example.com", "id1", -1, t, "x", 300, &d),
                     MXTLS_EINVAL);
    assert_int_equal(a->ops->mark_failed(a, "example.com", "id1", 0, t, "x", 0, &d), MXTLS_EINVAL);
    cache_backend_close(a);
    cache_backend_close(b);
}

static void test_claim_expiry(void **state)
{
    struct cache_backend *a = open_main(), *b = open_main();
    struct cache_claim c;

    (void)state;
    flush();
    assert_int_equal(a->ops->claim(a, "example.com", "1", 0, "a:1", 200, &c, NULL), 0);
    assert_int_equal(c.outcome, CACHE_CLAIM_WON);
    assert_int_equal(b->ops->claim(b, "example.com", "1", 0, "b:1", 200, &c, NULL), 0);
    assert_int_equal(c.outcome, CACHE_CLAIM_HELD);
    usleep(300000);
    assert_int_equal(b->ops->claim(b, "example.com", "1", 0, "b:1", 200, &c, NULL), 0);
    assert_int_equal(c.outcome, CACHE_CLAIM_WON);
    cache_backend_close(a);
    cache_backend_close(b);
}

/* ---- connections ---- */

/* open succeeds with the server down; calls fail fast with EIO; it comes up: they work */
static void test_lazy_reconnect(void **state)
{
    int port = free_port();
    char url[64];
    struct cache_backend *b;
    struct cache_entry got, e;
    struct mxtls_diag d = {0};
    long long t0;

    (void)state;
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
    b = open_url(url, 500);
    t0 = now_ms();
    assert_int_equal(b->ops->get(b, "example.com", &got, &d), MXTLS_EIO);
    assert_true(now_ms() - t0 < 1500);
    char want[64];
    snprintf(want, sizeof(want), "redis 127.0.0.1:%d: ", port);
    if (strstr(d.what, want) == NULL)
        fail_msg("diag \"%s\" does not name the server", d.what);
    struct cache_claim c;
    assert_int_equal(b->ops->claim(b, "example.com", "1", 0, "a", 100, &c, &d), MXTLS_EIO);
    pid_t pid = start_redis(port, NULL, NULL);
    assert_int_equal(b->ops->get(b, "example.com", &got, &d), MXTLS_ENOTFOUND);
    entry(&e, "example.com", "1", wall(), wall(), POLICY);
    put_ok(b, &e);
    /* the server restarts (its data gone): one EIO, then it works again */
    stop(pid);
    assert_int_equal(b->ops->get(b, "example.com", &got, &d), MXTLS_EIO);
    pid = start_redis(port, NULL, NULL);
    assert_int_equal(b->ops->get(b, "example.com", &got, &d), MXTLS_ENOTFOUND);
    put_ok(b, &e);
    assert_int_equal(b->ops->get(b, "example.com", &got, &d), 0);
    cache_entry_finish(&got);
    stop(pid);
    cache_backend_close(b);
}

/* a server that accepts and never answers: the call ends at the socket timeout */
static void test_timeout(void **state)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char url[64];
    struct cache_entry got;
    struct mxtls_diag d = {0};

    (void)state;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 8), 0); /* the kernel completes the handshake */
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", ntohs(sa.sin_port));
    struct cache_backend *b = open_url(url, 300);
    long long t0 = now_ms();
    assert_int_equal(b->ops->get(b, "example.com", &got, &d), MXTLS_EIO);
    long long took = now_ms() - t0;
    assert_true(took >= 250 && took < 1500);
    if (strstr(d.what, "no answer within 300 ms") == NULL)
        fail_msg("diag \"%s\"", d.what);
    cache_backend_close(b);
    close(fd);
}

static void test_unix_socket(void **state)
{
    int port = free_port();
    char sock[128], url[200];
    struct cache_entry e, got;
    struct mxtls_diag d = {0};

    (void)state;
    snprintf(sock, sizeof(sock), "%s/r.sock", tmpdir);
    pid_t pid = start_redis(port, NULL, sock);
    snprintf(url, sizeof(url), "unix://%s?db=2", sock);
    struct cache_backend *b = open_url(url, 2000);
    entry(&e, "example.com", "1", wall(), wall(), POLICY);
    put_ok(b, &e);
    assert_int_equal(b->ops->get(b, "example.com", &got, &d), 0);
    cache_entry_finish(&got);
    assert_int_equal(raw_int(port, 2, "EXISTS %s", "mxtls:v1:policy:example.com"), 1);
    assert_int_equal(raw_int(port, 0, "EXISTS %s", "mxtls:v1:policy:example.com"), 0);
    cache_backend_close(b);
    /* a socket that is not there: EIO naming the path */
    snprintf(url, sizeof(url), "unix://%s/none.sock", tmpdir);
    b = open_url(url, 500);
    assert_int_equal(b->ops->get(b, "example.com", &got, &d), MXTLS_EIO);
    assert_non_null(strstr(d.what, "none.sock"));
    cache_backend_close(b);
    stop(pid);
}

static void test_db_select(void **state)
{
    char url[64];
    struct cache_entry e, got;
    struct config_cache cf = {0};
    struct cache_backend_options o = {.busy_ms = 2000, .cf = &cf};
    struct cache_backend *b = NULL;

    (void)state;
    flush();
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/3", main_port);
    b = open_url(url, 2000);
    entry(&e, "example.com", "1", wall(), wall(), POLICY);
    put_ok(b, &e);
    cache_backend_close(b);
    assert_int_equal(raw_int(main_port, 3, "EXISTS %s", "mxtls:v1:policy:example.com"), 1);
    assert_int_equal(raw_int(main_port, 0, "EXISTS %s", "mxtls:v1:policy:example.com"), 0);
    /* cf->db overrides the URL's */
    cf.type = CONFIG_CACHE_REDIS;
    cf.url = url;
    cf.db = 5;
    assert_int_equal(cache_backend_open("redis", &o, &b, NULL), 0);
    entry(&e, "example.org", "1", wall(), wall(), POLICY);
    put_ok(b, &e);
    assert_int_equal(b->ops->get(b, "example.com", &got, NULL), MXTLS_ENOTFOUND);
    cache_backend_close(b);
    assert_int_equal(raw_int(main_port, 5, "EXISTS %s", "mxtls:v1:policy:example.org"), 1);
}

static void test_password(void **state)
{
    int port = free_port();
    char url[128];
    struct cache_entry e, got;
    struct mxtls_diag d = {0};
    struct config_cache cf = {0};
    struct cache_backend_options o = {.busy_ms = 2000, .cf = &cf};
    struct cache_backend *b = NULL;

    (void)state;
    pid_t pid = start_redis(port, PASSWORD, NULL);
    entry(&e, "example.com", "1", wall(), wall(), POLICY);
    /* in the URL, percent-encoded */
    snprintf(url, sizeof(url), "redis://:s3cr3t-p%%40ss@127.0.0.1:%d", port);
    b = open_url(url, 2000);
    put_ok(b, &e);
    assert_int_equal(b->ops->get(b, "example.com", &got, &d), 0);
    cache_entry_finish(&got);
    cache_backend_close(b);
    /* with the ACL user "default" (Redis 6: AUTH user password) */
    snprintf(url, sizeof(url), "redis://default:s3cr3t-p%%40ss@127.0.0.1:%d", port);
    b = open_url(url, 2000);
    assert_int_equal(b->ops->get(b, "example.com", &got, &d), 0);
    cache_entry_finish(&got);
    cache_backend_close(b);
    /* cf->password over a URL without one */
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
    cf.type = CONFIG_CACHE_REDIS;
    cf.url = url;
    cf.db = -1;
    cf.password = PASSWORD;
    cf.socket_timeout_ms = 1000;
    assert_int_equal(cache_backend_open("redis", &o, &b, NULL), 0);
    assert_int_equal(b->ops->get(b, "example.com", &got, &d), 0);
    cache_entry_finish(&got);
    cache_backend_close(b);
    /* a wrong password: EIO, and no password in the message */
    cf.password = "wrong-horse";
    assert_int_equal(cache_backend_open("redis", &o, &b, NULL), 0);
    assert_int_equal(b->ops->get(b, "example.com", &got, &d), MXTLS_EIO);
    assert_non_null(strstr(d.what, "authentication refused"));
    assert_null(strstr(d.what, "wrong-horse"));
    assert_null(strstr(d.what, PASSWORD));
    cache_backend_close(b);
    /* none at all: EIO (NOAUTH) */
    b = open_url(url, 2000);
    assert_int_equal(b->ops->get(b, "example.com", &got, &d), MXTLS_EIO);
    assert_non_null(strstr(d.what, "NOAUTH"));
    cache_backend_close(b);
    stop(pid);
}

static void test_open_refuses(void **state)
{
    struct cache_backend *b = NULL;
    struct mxtls_diag d = {0};
    struct cache_backend_options o = {.path = "rediss://127.0.0.1:6380", .busy_ms = 100};
    struct config_cache cf = {0};

    (void)state;
    assert_int_equal(cache_backend_open("redis", &o, &b, &d), MXTLS_EINVAL);
    assert_null(b);
    assert_non_null(strstr(d.what, "TLS to Redis not supported"));
    o.path = NULL;
    assert_int_equal(cache_backend_open("redis", &o, &b, &d), MXTLS_EINVAL);
    /* sentinels need a master name; and their addresses must parse */
    char *sent[] = {"127.0.0.1:26379"};
    cf.type = CONFIG_CACHE_REDIS;
    cf.db = -1;
    cf.sentinels = sent;
    cf.n_sentinels = 1;
    o.cf = &cf;
    assert_int_equal(cache_backend_open("redis", &o, &b, &d), MXTLS_EINVAL);
    assert_non_null(strstr(d.what, "sentinel_master_name"));
    char *bad[] = {"127.0.0.1"};
    cf.sentinels = bad;
    cf.sentinel_master_name = "mymaster";
    assert_int_equal(cache_backend_open("redis", &o, &b, &d), MXTLS_EINVAL);
    assert_non_null(cache_backend_find("redis"));
}

/* connections - the main server's total_connections_received (this call's included) */
static long long connections(void)
{
    redisReply *r = raw_cmd(main_port, 0, "INFO stats");
    const char *p;
    long long v = -1;

    assert_int_equal(r->type, REDIS_REPLY_STRING);
    p = strstr(r->str, "total_connections_received:");
    assert_non_null(p);
    v = strtoll(p + strlen("total_connections_received:"), NULL, 10);
    freeReplyObject(r);
    return v;
}

/* READONLY (a demoted master): EIO, the connection dropped; promoted again: it works */
static void test_readonly(void **state)
{
    struct cache_backend *b = open_main();
    struct cache_entry e;
    struct mxtls_diag d = {0};
    int other = free_port();

    (void)state;
    flush();
    entry(&e, "example.com", "1", wall(), wall(), POLICY);
    put_ok(b, &e); /* connected */
    char port[16];
    snprintf(port, sizeof(port), "%d", other);
    freeReplyObject(raw_cmd(main_port, 0, "REPLICAOF 127.0.0.1 %s", port));
    long long before = connections();
    assert_int_equal(b->ops->put(b, &e, &d), MXTLS_EIO);
    assert_non_null(strstr(d.what, "READONLY"));
    freeReplyObject(raw_cmd(main_port, 0, "REPLICAOF NO ONE"));
    put_ok(b, &e);
    /* the backend connected again: one connection more than the test's own two */
    assert_int_equal(connections() - before, 3);
    cache_backend_close(b);
}

/* NOSCRIPT after the server's script cache is flushed: EVAL again */
static void test_noscript(void **state)
{
    struct cache_backend *b = open_main();
    struct cache_entry e, got;
    struct mxtls_diag d = {0};
    size_t bad;
    struct walk_seen w = {0};

    (void)state;
    flush();
    entry(&e, "example.com", "1", wall(), wall(), POLICY);
    put_ok(b, &e);
    freeReplyObject(raw_cmd(main_port, 0, "SCRIPT FLUSH"));
    assert_int_equal(b->ops->get(b, "example.com", &got, &d), 0);
    cache_entry_finish(&got);
    freeReplyObject(raw_cmd(main_port, 0, "SCRIPT FLUSH"));
    assert_int_equal(b->ops->walk(b, walk_cb, &w, &bad, &d), 0);
    assert_int_equal(w.n, 1);
    assert_int_equal(bad, 0);
    cache_backend_close(b);
}

/* Sentinel: the master is asked of the sentinels; a dead sentinel is passed over */
static void test_sentinel(void **state)
{
    int mport = free_port(), sport = free_port(), dead = free_port();
    char conf[128], sp[16], mp[16];
    struct cache_entry e, got;
    struct mxtls_diag d = {0};
    FILE *f;

    (void)state;
    pid_t master = start_redis(mport, NULL, NULL);
    snprintf(conf, sizeof(conf), "%s/sentinel-%d.conf", tmpdir, sport);
    f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f,
            "port %d\nbind 127.0.0.1\ndaemonize no\ndir %s\n"
            "sentinel monitor mymaster 127.0.0.1 %d 1\n"
            "sentinel down-after-milliseconds mymaster 1000\n",
            sport, tmpdir, mport);
    fclose(f);
    snprintf(sp, sizeof(sp), "%d", sport);
    snprintf(mp, sizeof(mp), "%d", mport);
    char *argv[] = {"redis-sentinel", conf, NULL};
    pid_t sent = spawn(argv);
    wait_up(sent, sport);

    char a0[32], a1[32];
    snprintf(a0, sizeof(a0), "127.0.0.1:%d", dead);
    snprintf(a1, sizeof(a1), "127.0.0.1:%d", sport);
    char *sentinels[] = {a0, a1};
    struct config_cache cf = {.type = CONFIG_CACHE_REDIS,
                              .db = 1,
                              .socket_timeout_ms = 1000,
                              .socket_connect_timeout_ms = 500,
                              .sentinels = sentinels,
                              .n_sentinels = 2,
                              .sentinel_master_name = "mymaster"};
    struct cache_backend_options o = {.busy_ms = 1000, .cf = &cf};
    struct cache_backend *b = NULL;
    assert_int_equal(cache_backend_open("redis", &o, &b, &d), 0);
    entry(&e, "example.com", "1", wall(), wall(), POLICY);
    put_ok(b, &e);
    assert_int_equal(b->ops->get(b, "example.com", &got, &d), 0);
    cache_entry_finish(&got);
    assert_int_equal(raw_int(mport, 1, "EXISTS %s", "mxtls:v1:policy:example.com"), 1);
    /* the master demoted behind the sentinel's back: a write says READONLY, the
     * next call asks the sentinel again and ROLE says "slave": EIO */
    int other = free_port();
    char op[16];
    snprintf(op, sizeof(op), "%d", other);
    freeReplyObject(raw_cmd(mport, 0, "REPLICAOF 127.0.0.1 %s", op));
    assert_int_equal(b->ops->put(b, &e, &d), MXTLS_EIO);
    assert_non_null(strstr(d.what, "READONLY"));
    assert_int_equal(b->ops->get(b, "example.com", &got, &d), MXTLS_EIO);
    if (strstr(d.what, "but it is a slave") == NULL)
        fail_msg("diag \"%s\"", d.what);
    freeReplyObject(raw_cmd(mport, 0, "REPLICAOF NO ONE"));
    /* a master again (it never synced with the absent one: its data is kept) */
    assert_int_equal(b->ops->get(b, "example.com", &got, &d), 0);
    cache_entry_finish(&got);
    /* the sentinels know no such master: EIO naming it */
    cache_backend_close(b);
    cf.sentinel_master_name = "nosuch";
    assert_int_equal(cache_backend_open("redis", &o, &b, &d), 0);
    assert_int_equal(b->ops->get(b, "example.com", &got, &d), MXTLS_EIO);
    assert_non_null(strstr(d.what, "nosuch"));
    cache_backend_close(b);
    stop(sent);
    stop(master);
}

/* ---- the checks of what is read back (cache_redis_check_record, _parse_failed) ---- */

#define T_MAX     "9007199254740991" /* CACHE_REDIS_TIME_MAX */
#define T_OVER    "9007199254740992"
#define ID_32     "abcdefghijklmnopqrstuvwxyz012345"
#define ID_33     ID_32 "6"
#define NIL_FIELD NULL

struct record_case {
    const char *rule;
    const char *f[CACHE_REDIS_F_N]; /* NIL_FIELD: the hash lacks it */
    size_t policy_len;              /* 0: strlen; else the octets of f[policy] */
    size_t pad;                     /* > 0: the policy padded with LF to pad octets */
    int err;
    const char *canon; /* accepted: the policy text given back */
    const char *why;   /* refused: in the reason */
};

static const struct record_case record_cases[] = {
    {"record: a canonical v1 record is accepted",
     {"1", "example.com", "abc123", "1700000000", "1700000100", "0", POLICY},
     0,
     0,
     0,
     POLICY,
     NULL},
    {"record: an LF policy comes back canonical (CRLF, lower case)",
     {"1", "example.com", ID_32, "0", "0", T_MAX, POLICY_LF},
     0,
     0,
     0,
     POLICY_LFC,
     NULL},
    {"record: v=2 is a newer format, refused",
     {"2", "example.com", "abc", "1", "1", "0", POLICY},
     0,
     0,
     MXTLS_EINVAL,
     NULL,
     "field v"},
    {"record: no v field, refused",
     {NIL_FIELD, "example.com", "abc", "1", "1", "0", POLICY},
     0,
     0,
     MXTLS_EINVAL,
     NULL,
     "field v"},
    {"record: another domain's record is foreign",
     {"1", "example.org", "abc", "1", "1", "0", POLICY},
     0,
     0,
     MXTLS_EINVAL,
     NULL,
     "another domain"},
    {"record: the domain compared exactly (no trailing dot)",
     {"1", "example.com.", "abc", "1", "1", "0", POLICY},
     0,
     0,
     MXTLS_EINVAL,
     NULL,
     "another domain"},
    {"record: a 33-octet id refused (RFC 8461 §3.1)",
     {"1", "example.com", ID_33, "1", "1", "0", POLICY},
     0,
     0,
     MXTLS_EINVAL,
     NULL,
     "invalid id"},
    {"record: an id with '-' refused",
     {"1", "example.com", "ab-c", "1", "1", "0", POLICY},
     0,
     0,
     MXTLS_EINVAL,
     NULL,
     "invalid id"},
    {"record: an empty id refused",
     {"1", "example.com", "", "1", "1", "0", POLICY},
     0,
     0,
     MXTLS_EINVAL,
     NULL,
     "invalid id"},
    {"record: a time past 2^53 - 1 refused",
     {"1", "example.com", "abc", "1", T_OVER, "0", POLICY},
     0,
     0,
     MXTLS_EINVAL,
     NULL,
     "timestamp"},
    {"record: a negative time refused",
     {"1", "example.com", "abc", "-1", "1", "0", POLICY},
     0,
     0,
     MXTLS_EINVAL,
     NULL,
     "timestamp"},
    {"record: an empty time refused",
     {"1", "example.com", "abc", "1", "1", "", POLICY},
     0,
     0,
     MXTLS_EINVAL,
     NULL,
     "timestamp"},
    {"record: a missing time refused",
     {"1", "example.com", "abc", "1", NIL_FIELD, "0", POLICY},
     0,
     0,
     MXTLS_EINVAL,
     NULL,
     "timestamp"},
    {"record: no policy refused",
     {"1", "example.com", "abc", "1", "1", "0", NIL_FIELD},
     0,
     0,
     MXTLS_EINVAL,
     NULL,
     "no policy"},
    {"record: a policy holding a NUL refused",
     {"1", "example.com", "abc", "1", "1", "0", "version: STSv1\r\n\0mode: none\r\n"},
     30,
     0,
     MXTLS_EINVAL,
     NULL,
     "NUL"},
    {"record: a policy over the 64 KiB cap refused (RFC 8461 §3.3)",
     {"1", "example.com", "abc", "1", "1", "0", POLICY},
     0,
     STS_POLICY_BODY_MAX + 1,
     MXTLS_EINVAL,
     NULL,
     "cap"},
    {"record: a policy that does not parse refused",
     {"1", "example.com", "abc", "1", "1", "0", "version: STSv2\r\nmode: enforce\r\n"},
     0,
     0,
     MXTLS_EINVAL,
     NULL,
     "bad policy"},
};

static void test_check_record(void **state)
{
    const struct record_case *r = *state;
    struct cache_redis_str f[CACHE_REDIS_F_N];
    struct mxtls_diag d = {0};
    struct cache_entry e;
    char *padded = NULL;

    for (int i = 0; i < CACHE_REDIS_F_N; i++) {
        f[i].str = r->f[i];
        f[i].len = r->f[i] != NULL ? strlen(r->f[i]) : 0;
    }
    if (r->policy_len > 0)
        f[CACHE_REDIS_F_POLICY].len = r->policy_len;
    if (r->pad > 0) {
        padded = malloc(r->pad);
        assert_non_null(padded);
        memset(padded, '\n', r->pad);
        memcpy(padded, f[CACHE_REDIS_F_POLICY].str, f[CACHE_REDIS_F_POLICY].len);
        f[CACHE_REDIS_F_POLICY].str = padded;
        f[CACHE_REDIS_F_POLICY].len = r->pad;
    }
    int rc = cache_redis_check_record("test", "example.com", f, &e, NULL, &d);
    free(padded);
    assert_int_equal(rc, r->err);
    if (rc != 0) {
        if (strstr(d.what, r->why) == NULL)
            fail_msg("diag \"%s\" lacks \"%s\"", d.what, r->why);
        assert_null(e.policy_text);
        assert_string_equal(e.id, "");
        return;
    }
    assert_string_equal(e.domain, "example.com");
    assert_string_equal(e.id, r->f[CACHE_REDIS_F_ID]);
    assert_int_equal(e.fetched_at, strtoll(r->f[CACHE_REDIS_F_FETCHED], NULL, 10));
    assert_int_equal(e.checked_at, strtoll(r->f[CACHE_REDIS_F_CHECKED], NULL, 10));
    assert_int_equal(e.failed_at, strtoll(r->f[CACHE_REDIS_F_FAILED], NULL, 10));
    assert_string_equal(e.policy_text, r->canon);
    assert_int_equal(e.policy_len, strlen(r->canon));
    cache_entry_finish(&e);
}

struct failed_case {
    const char *rule;
    const char *id;
    const char *value;
    size_t why_pad; /* > 0: that many 'w' appended to value */
    bool ok;
    int failure;
    long long at;
    const char *why; /* without the padding */
};

static const struct failed_case failed_cases[] = {
    {"failed: a value for this id is read", "abc123", "abc123 3 1700000000 fetch: HTTP 404", 0,
     true, 3, 1700000000, "fetch: HTTP 404"},
    {"failed: an empty why is read", "abc", "abc 0 0 ", 0, true, 0, 0, ""},
    {"failed: the largest failure, time and why are read", "ID1", "ID1 9999 " T_MAX " ", 255, true,
     9999, 9007199254740991LL, ""},
    {"failed: a why of 256 octets refused", "ID1", "ID1 1 1 ", 256, false, 0, 0, NULL},
    {"failed: another id's value refused", "abc", "abd 1 2 why", 0, false, 0, 0, NULL},
    {"failed: a longer id with this one as prefix refused", "abc", "abc1 1 2 why", 0, false, 0, 0,
     NULL},
    {"failed: a failure over 9999 refused", "abc", "abc 10000 2 why", 0, false, 0, 0, NULL},
    {"failed: a time past 2^53 - 1 refused", "abc", "abc 1 " T_OVER " why", 0, false, 0, 0, NULL},
    {"failed: a control character in why refused", "abc", "abc 1 2 a\tb", 0, false, 0, 0, NULL},
    {"failed: without the why separator refused", "abc", "abc 1 2", 0, false, 0, 0, NULL},
    {"failed: a signed number refused", "abc", "abc +1 2 why", 0, false, 0, 0, NULL},
};

static void test_parse_failed(void **state)
{
    const struct failed_case *r = *state;
    char value[CACHE_REDIS_FAILED_MAX + 1];
    size_t n = strlen(r->value);
    struct cache_claim c, before;

    assert_true(n + r->why_pad <= CACHE_REDIS_FAILED_MAX);
    memcpy(value, r->value, n);
    memset(value + n, 'w', r->why_pad);
    n += r->why_pad;
    memset(&c, 0x5a, sizeof(c));
    before = c;
    assert_int_equal(cache_redis_parse_failed(value, n, r->id, &c), r->ok);
    if (!r->ok) {
        assert_memory_equal(&c, &before, sizeof(c)); /* untouched */
        return;
    }
    assert_int_equal(c.failure, r->failure);
    assert_int_equal(c.failed_at, r->at);
    assert_int_equal(strlen(c.why), strlen(r->why) + r->why_pad);
    assert_memory_equal(c.why, r->why, strlen(r->why));
}

int main(void)
{
    static struct unit_suite s;

    signal(SIGPIPE, SIG_IGN);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_cache_redis.XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    atexit(kill_all);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGHUP, on_signal);
    main_port = 0;
    {
        /* the shared server; its absence fails every test that needs it */
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
            getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
            return 1;
        close(fd);
        main_port = ntohs(sa.sin_port);
    }
    UNIT_ROWS(&s, test_url, url_cases);
    UNIT_ROWS(&s, test_addr, addr_cases);
    UNIT_ROWS(&s, test_check_record, record_cases);
    UNIT_ROWS(&s, test_parse_failed, failed_cases);
    unit_one(&s, "open refuses rediss://, no URL, sentinels without a master name",
             test_open_refuses, NULL);
    unit_one(&s, "put then get round trip, canonical text; del", test_round_trip, NULL);
    UNIT_ROWS(&s, test_put_bad, put_bad_cases);
    unit_one(&s, "the newer record wins whoever writes last", test_newer_wins, NULL);
    unit_one(&s, "key TTL is fetched_at + max_age; an expired put deletes (RFC 8461 §5.1)",
             test_ttl, NULL);
    UNIT_ROWS(&s, test_foreign, foreign_cases);
    unit_one(&s, "walk visits every valid record, counts the invalid ones, can stop", test_walk,
             NULL);
    unit_one(&s, "claim: WON, HELD, HAVE, FAILED; mark_failed", test_claim, NULL);
    unit_one(&s, "a claim expires after its ttl", test_claim_expiry, NULL);
    unit_one(&s, "server down: open works, calls EIO fast, then reconnect lazily",
             test_lazy_reconnect, NULL);
    unit_one(&s, "a silent server: EIO at the socket timeout", test_timeout, NULL);
    unit_one(&s, "unix:// socket with ?db=", test_unix_socket, NULL);
    unit_one(&s, "db from the URL path, and cf->db over it", test_db_select, NULL);
    unit_one(&s, "password in the URL, as ACL user, in cf; wrong: EIO without it", test_password,
             NULL);
    unit_one(&s, "READONLY from a demoted master: EIO, then reconnect", test_readonly, NULL);
    unit_one(&s, "NOSCRIPT: the script is sent again", test_noscript, NULL);
    unit_one(&s, "sentinel: the master is found through a live sentinel", test_sentinel, NULL);

    /* start the shared server inside a test so a missing redis-server fails it */
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        char p[16];
        snprintf(p, sizeof(p), "%d", main_port);
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0)
            dup2(fd, 1);
        execlp("redis-server", "redis-server", "--port", p, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--daemonize", "no", "--dir", tmpdir, "--dbfilename", p,
               (char *)NULL);
        fprintf(stderr, "test_cache_redis: cannot run redis-server: %s (install redis-server)\n",
                strerror(errno));
        _exit(127);
    }
    procs[0] = pid;
    {
        long long until = now_ms() + 10000;
        for (;;) {
            redisContext *x = raw_connect(main_port, NULL);
            if (x != NULL) {
                redisFree(x);
                break;
            }
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid || now_ms() > until) {
                procs[0] = 0;
                fprintf(stderr, "test_cache_redis: redis-server did not start: FAIL\n");
                return 1;
            }
            usleep(20000);
        }
    }
    return unit_run(&s, "cache_redis");
}
