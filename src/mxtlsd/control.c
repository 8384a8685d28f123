/*
 * control - the control socket's requests and its listener (see control.h).
 *
 * The verb is read with a bounded scan, never a copy: at most
 * CONTROL_VERB_MAX octets of [a-z-], then the end of the payload or one
 * space and the arguments. Anything else is a client that does not speak
 * this protocol: PERM and the connection closes, as for a bad frame.
 */
#include "control.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "mxtls/socketmap.h"
#include "server.h"
#include "session.h"

/* control_explain - "explain ZONE NEXTHOP": the mxtls-explain map's answer */
static int control_explain(struct session *s, const char *args, size_t len)
{
    return session_explain(s, args, len);
}

/* The requests: one row each. */
static const struct {
    const char *verb;
    int (*handle)(struct session *s, const char *args, size_t len);
} requests[] = {
    {"explain", control_explain},
};

/* control_request - split "VERB ARGS", dispatch */
int control_request(struct session *s, const char *data, size_t len)
{
    size_t n = 0;
    while (n < len && n <= CONTROL_VERB_MAX &&
           ((data[n] >= 'a' && data[n] <= 'z') || data[n] == '-'))
        n++;
    if (n == 0 || n > CONTROL_VERB_MAX || (n < len && data[n] != ' ')) {
        log_msg(LOG_LEVEL_WARN, "control: malformed request (%zu octets); closing", len);
        session_reply(s, SOCKETMAP_PERM, "malformed request: expected \"VERB [ARGS]\"");
        session_close_after_reply(s);
        return 1;
    }
    const char *args = n < len ? data + n + 1 : data + len;
    size_t args_len = n < len ? len - n - 1 : 0;
    for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++)
        if (strlen(requests[i].verb) == n && memcmp(requests[i].verb, data, n) == 0)
            return requests[i].handle(s, args, args_len);
    log_msg(LOG_LEVEL_INFO, "control: unknown request \"%.*s\"", (int)n, data);
    session_reply(s, SOCKETMAP_PERM, "unknown request");
    return 1;
}

/*
 * owner - the uid and gid the control socket is given: mxtlsd's -u and -g,
 * as drop_privileges resolves them; *set false (no chown) when neither is
 * set. 0, or a negative code with diag.
 */
static int owner(const struct server *policy, uid_t *uid, gid_t *gid, bool *set,
                 struct mxtls_diag *diag)
{
    *uid = (uid_t)-1;
    *gid = (gid_t)-1;
    *set = policy->control_user != NULL || policy->control_group != NULL;
    if (policy->control_user != NULL) {
        struct passwd *pw = getpwnam(policy->control_user);
        if (pw == NULL)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "unknown user %s", policy->control_user);
        *uid = pw->pw_uid;
        *gid = pw->pw_gid;
    }
    if (policy->control_group != NULL) {
        struct group *gr = getgrnam(policy->control_group);
        if (gr == NULL)
            return mxtls_diag_set(diag, MXTLS_EINVAL, 0, "unknown group %s", policy->control_group);
        *gid = gr->gr_gid;
    }
    return 0;
}

/* control_listen - the control server, bound and owned by mxtlsd's user */
int control_listen(struct server *policy, struct mxtls_diag *diag)
{
    const struct config_control *cc = &policy->cfg->control;
    if (cc->path == NULL && cc->host == NULL)
        return 0;
    uid_t uid;
    gid_t gid;
    bool chown_it;
    int err = owner(policy, &uid, &gid, &chown_it, diag);
    if (err < 0)
        return err;
    struct server *ctl = calloc(1, sizeof(*ctl));
    if (ctl == NULL)
        return mxtls_diag_set(diag, MXTLS_ENOMEM, 0, "out of memory");
    ctl->base = policy->base;
    ctl->cfg = policy->cfg;
    ctl->kind = SERVER_CONTROL;
    ctl->policy = policy;
    ctl->idle_s = CONTROL_IDLE_S;
    ctl->max_sessions = CONTROL_MAX_CONNECTIONS;
    ctl->addr = (struct server_addr){
        .path = cc->path,
        .mode = cc->path != NULL ? cc->mode : -1,
        .host = cc->host,
        .port = cc->port,
        .reuse_port = false,
        .backlog = 16,
    };
    policy->control = ctl; /* server_close frees it, whatever happens next */
    if (cc->path != NULL && strncmp(cc->path, MXTLS_STATEDIR "/", sizeof(MXTLS_STATEDIR)) == 0 &&
        mkdir(MXTLS_STATEDIR, 0750) == 0 && chown_it && chown(MXTLS_STATEDIR, uid, gid) < 0)
        return mxtls_diag_set(diag, MXTLS_EIO, 0, "chown %s: %s", MXTLS_STATEDIR,
                              strerror(errno)); /* the default's directory, for the store too */
    struct mxtls_diag d = {0};
    if ((err = server_listen_addr(ctl, &d)) < 0)
        return mxtls_diag_set(diag, err, 0, "control socket: %s", d.what);
    if (cc->path != NULL && chown_it && lchown(cc->path, uid, gid) < 0)
        return mxtls_diag_set(diag, MXTLS_EIO, 0, "control socket: chown %s: %s", cc->path,
                              strerror(errno));
    if (cc->path != NULL)
        log_msg(LOG_LEVEL_INFO, "control socket %s (mode %04o)", cc->path, (unsigned)cc->mode);
    else
        log_msg(LOG_LEVEL_INFO, "control socket %s:%u (loopback TCP)", cc->host,
                (unsigned)cc->port);
    return 0;
}

/* control_free - the control server's memory */
void control_free(struct server *ctl)
{
    free(ctl);
}
