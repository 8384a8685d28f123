/*
 * config - the mxtlsd configuration: defaults and the YAML file loader.
 *
 * mxtlsd is a drop-in for postfix-mta-sts-resolver, so it reads that daemon's
 * mta-sts-daemon.yml with the same keys and meanings (host, port, path, mode,
 * reuse_port, shutdown_timeout, cache_grace, cache, proactive_policy_fetching,
 * default_zone, zones; see mta-sts-daemon.yml(5)), plus mxtls keys:
 * resolver.unbound_config, resolver.trust_anchor_file, the resolver's
 * sizing (resolver.outgoing_range ...), https.ca_file, the per-zone tlsrpt
 * and dane switches, and the limits max_connections, request_timeout,
 * output_high_water, sts_resolver_failure_temp, store_queue_max and
 * store_lag_warning, the control socket (control.path, control.mode,
 * control.host, control.port; a TCP control address must be a loopback
 * address), explain_on_policy_port and the metrics listener (metrics.host,
 * metrics.port; loopback only, off by default). Every scalar is typed and range-checked;
 * an unknown key, a bad value, a duplicate key, an alias or an explicit tag is
 * a load error naming the file, the line and the key path (for example
 * "/etc/mta-sts-daemon.yml:12: zones.myzone.timeout: ..."). Booleans accept
 * what PyYAML (YAML 1.1) reads as booleans: true/false, yes/no, on/off in
 * lower, Capitalised or UPPER case; numbers are plain decimal, except `mode`,
 * a file mode in octal with a leading zero (0666) as YAML 1.1 reads it.
 *
 * Ownership: struct mxtls_config owns every string and the zone array; it is
 * filled by config_init_defaults or config_load_* and released by
 * config_finish. I/O: config_load_file reads one file; nothing here logs or
 * exits. Failures return a negative MXTLS_E* code and fill struct mxtls_diag;
 * diag->offset is the byte offset of the offending node in the file.
 */
#ifndef MXTLS_IO_CONFIG_H
#define MXTLS_IO_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mxtls/diag.h"

#ifndef MXTLS_STATEDIR
#define MXTLS_STATEDIR "/var/lib/mxtls" /* the embedded SQLite cache lives here */
#endif

#define CONFIG_MAX_BYTES     (1024 * 1024) /* a larger file is not a configuration */
#define CONFIG_MAX_DEPTH     16            /* YAML nesting; the schema needs 4 */
#define CONFIG_MAX_NODES     65536         /* YAML nodes in one file */
#define CONFIG_MAX_ZONES     1024          /* entries under `zones` */
#define CONFIG_ZONE_NAME_MAX 64            /* a socketmap map name, octets */
#define CONFIG_STR_MAX       4095          /* paths, URLs, host names (PATH_MAX - 1) */
#define CONFIG_SUN_PATH_MAX  107           /* sizeof(sockaddr_un.sun_path) - 1 */

enum config_cache_type {
    CONFIG_CACHE_SQLITE = 0, /* the default: persistent, nothing to run */
    CONFIG_CACHE_INTERNAL,   /* in-memory LRU, lost on restart */
    CONFIG_CACHE_REDIS,      /* shared by a fleet of MTAs */
};

/* Settings of one zone (a socketmap map name), as default_zone holds them. */
struct config_zone {
    bool strict_testing; /* treat MTA-STS "testing" as "enforce"; default false */
    uint32_t timeout_ms; /* DNS and HTTPS timeout; default 4 s */
    bool require_sni;    /* answer servername=hostname; default true */
    bool tlsrpt;         /* Postfix 3.10 TLSRPT attributes; default false */
    bool dane;           /* consult DANE before MTA-STS; default true */
};

struct config_named_zone {
    char *name; /* socketmap map name, e.g. "postfix" */
    struct config_zone opts;
};

struct config_cache {
    enum config_cache_type type;
    uint32_t cache_size; /* internal: entries; default 10000 */
    char *filename;      /* sqlite: database; default MXTLS_STATEDIR "/cache.db" */
    uint32_t threads;    /* sqlite: connection pool; 0 = number of CPUs */
    uint32_t timeout_ms; /* sqlite: pool/lock wait; default 5 s */
    /* redis: redis:// or unix:// URL, required; redis_sentinel: optional, redis:// only */
    char *url;
    char *username;                     /* redis: overrides the URL's; NULL = none */
    char *password;                     /* redis: overrides the URL's; NULL = none */
    int32_t db;                         /* redis: database number; -1 = from the URL */
    uint32_t max_connections;           /* redis: pool size; 0 = library default */
    uint32_t socket_timeout_ms;         /* redis: default 5 s */
    uint32_t socket_connect_timeout_ms; /* redis: default 5 s */
    /* redis_sentinel (type CONFIG_CACHE_REDIS with sentinels): the master is
     * asked of these sentinels by name; url then optional (db, credentials) */
    char **sentinels;           /* "host:port" ("[v6]:port"), n_sentinels of them */
    size_t n_sentinels;         /* 0 = plain redis (url) */
    char *sentinel_master_name; /* required with sentinels */
};

struct config_proactive {
    bool enabled;               /* default false */
    uint32_t interval_s;        /* run every this many seconds; default 86400 */
    uint32_t concurrency_limit; /* parallel refreshes; default 100 */
    double grace_ratio;         /* skip entries younger than interval/ratio; default 2.0 */
};

/*
 * resolver: libunbound sizing (unbound.conf(5) options of the same names
 * with '-' for '_'), applied before resolver.unbound_config so that file
 * still has the last word. The library's own defaults (16 ports, 2 TCP,
 * 1 MB caches) starve under a few dozen slow lookups.
 */
struct config_resolver {
    uint32_t outgoing_range;         /* UDP ports in use at once; default 1024 */
    uint32_t outgoing_num_tcp;       /* TCP connections at once; default 10 */
    uint32_t num_queries_per_thread; /* queries in progress; default 1024 */
    uint32_t msg_cache_size;         /* bytes; default 4 MiB */
    uint32_t rrset_cache_size;       /* bytes; default 8 MiB */
    uint32_t key_cache_size;         /* bytes; default 2 MiB */
    uint32_t neg_cache_size;         /* bytes; default 1 MiB */
    uint32_t infra_cache_numhosts;   /* servers remembered; default 10000 */
};

/*
 * control: mxtlsd's control socket (explain today; admin and metrics later),
 * never Postfix's port. A Unix socket (path, mode) or a loopback TCP address
 * (host, port), not both; neither = no control socket. A configuration file
 * without `control` has none; the embedded default (no file) has
 * CONFIG_CONTROL_DEFAULT_PATH.
 */
struct config_control {
    char *path;    /* Unix socket; NULL = none */
    int mode;      /* its file mode; default 0600 */
    char *host;    /* loopback TCP address (127.0.0.0/8 or ::1); NULL = none */
    uint16_t port; /* with host; a port alone means host 127.0.0.1 */
};

/*
 * metrics: mxtlsd's Prometheus metrics listener (issue 16), never Postfix's
 * port: GET /metrics over HTTP on a loopback TCP address. Off (port 0)
 * unless the configuration names a port; a port alone means 127.0.0.1.
 */
struct config_metrics {
    char *host;    /* loopback address (127.0.0.0/8 or ::1); NULL = off */
    uint16_t port; /* 0 = off */
};

#define CONFIG_CONTROL_DEFAULT_PATH MXTLS_STATEDIR "/control.sock"
#define CONFIG_CONTROL_DEFAULT_MODE 0600

struct mxtls_config {
    char *host;                   /* TCP listen address; default "127.0.0.1" */
    uint16_t port;                /* default 8461 */
    char *path;                   /* unix socket; when set, host and port are unused */
    int mode;                     /* unix socket file mode; -1 = not set (umask) */
    bool reuse_port;              /* SO_REUSEPORT; default true */
    uint64_t shutdown_timeout_ms; /* grace for open sessions at stop; default 20 s */
    uint64_t cache_grace_ms;      /* cached policy age needing no re-check; default 60 s */
    struct config_proactive proactive;
    struct config_cache cache;
    struct config_zone default_zone;
    struct config_named_zone *zones; /* in file order, names unique */
    size_t nzones;
    char *unbound_config;    /* resolver.unbound_config; NULL = libunbound defaults */
    char *trust_anchor_file; /* resolver.trust_anchor_file; NULL = none */
    char *ca_file;           /* https.ca_file; NULL = the system store */
    struct config_resolver resolver;
    /* mxtls limits (issue 17: each limit is a key with a sane default) */
    uint32_t max_connections;             /* Postfix connections at once; default 1000 */
    uint32_t request_timeout_ms;          /* a request's deadline from its first byte; 10 s */
    uint32_t output_high_water;           /* stop reading a connection above this; 64 KiB */
    uint32_t sts_resolver_failure_temp_s; /* TEMP while our DNS fails a policy host; 600 */
    uint32_t store_queue_max;             /* cache writes queued at most; default 100000 */
    uint32_t store_lag_warning_ms;        /* warn when the oldest write waits longer; 5 s */
    struct config_control control;        /* the control socket; see above */
    bool explain_on_policy_port;          /* answer map "mxtls-explain" on Postfix's port */
    struct config_metrics metrics;        /* the metrics listener (issue 16); see above */
};

/*
 * config_init_defaults - fill cfg with the embedded default configuration
 * (no file): 127.0.0.1:8461, SQLite cache at MXTLS_STATEDIR/cache.db, the
 * control socket at CONFIG_CONTROL_DEFAULT_PATH, the upstream zone
 * defaults, no zones. cfg need not be initialised; on success
 * release it with config_finish. Returns 0 or MXTLS_ENOMEM (cfg then holds
 * nothing to release).
 */
int config_init_defaults(struct mxtls_config *cfg);

/*
 * config_load_buffer - parse the YAML text (buf, len) over the defaults into
 * cfg. buf need not be NUL-terminated and is read only up to len. name is the
 * file name used in error messages (NULL: "<config>"). cfg need not be
 * initialised. On success returns 0 and cfg holds the result; on failure
 * returns MXTLS_EINVAL (syntax, unknown key, bad value), MXTLS_ETOOLONG (a
 * size, depth or count cap) or MXTLS_ENOMEM, fills diag with
 * "name:line: key.path: reason", and cfg holds the defaults. Either way, when
 * the return is not MXTLS_ENOMEM, the caller releases cfg with config_finish.
 * An empty document (or only comments) yields the defaults.
 */
int config_load_buffer(const char *buf, size_t len, const char *name, struct mxtls_config *cfg,
                       struct mxtls_diag *diag);

/*
 * config_load_file - read the file at path (a regular file of at most
 * CONFIG_MAX_BYTES) and load it as config_load_buffer does. A file that
 * cannot be opened or read gives MXTLS_ENOTFOUND (it does not exist) or
 * MXTLS_EINVAL, with the system's reason in diag. Same cfg contract as
 * config_load_buffer.
 */
int config_load_file(const char *path, struct mxtls_config *cfg, struct mxtls_diag *diag);

/*
 * config_zone_for - the zone settings for a socketmap request whose map name
 * is (name, len): Postfix sends "NAME KEY" where NAME is the last field of
 * socketmap:inet:HOST:PORT:NAME. As in postfix-mta-sts-resolver
 * (responder.py: `if req_zone in self._zones ... else self._default_zone`),
 * an exact, case-sensitive match in zones wins, anything else gets
 * default_zone. A zone does not inherit from default_zone: keys it omits have
 * the built-in defaults, as upstream's populate_zone gives them. Never NULL;
 * the result is borrowed from cfg.
 */
const struct config_zone *config_zone_for(const struct mxtls_config *cfg, const char *name,
                                          size_t len);

/* config_finish - free what cfg owns and zero it; cfg NULL is a no-op. */
void config_finish(struct mxtls_config *cfg);

/* config_cache_type_name - "sqlite", "internal" or "redis"; never NULL. */
const char *config_cache_type_name(enum config_cache_type type);

#endif
