/*
 * smtp_reply - SMTP reply parsing (see include/mxtls/smtp_reply.h).
 *
 * Fails closed: anything that is not "ddd[-| ]text" line by line is refused
 * with a reason; every cap is checked before the octets it guards are used.
 */
#include "mxtls/smtp_reply.h"

#include <string.h>

/* is_digit - ASCII digit, independent of the locale */
static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* lower - ASCII lower case, independent of the locale */
static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/*
 * is_starttls - whether the text of an EHLO extension line (after "250-" or
 * "250 ") is the STARTTLS keyword: RFC 5321 §4.1.1.1 ehlo-line = ehlo-keyword
 * *( SP ehlo-param ), keywords compare case-insensitively; RFC 3207 §4 names
 * the keyword STARTTLS (it takes no parameters, but a server that adds some
 * still offers it).
 */
static bool is_starttls(const char *t, size_t n)
{
    static const char kw[] = "starttls";
    size_t k = sizeof kw - 1;

    if (n < k)
        return false;
    for (size_t i = 0; i < k; i++)
        if (lower(t[i]) != kw[i])
            return false;
    return n == k || t[k] == ' ' || t[k] == '\t';
}

/* copy_text - printable ASCII copy of (t, n) into out, '?' for anything else */
static void copy_text(const char *t, size_t n, char *out, size_t outsize)
{
    size_t o = 0;

    for (size_t i = 0; i < n && o + 1 < outsize; i++) {
        unsigned char c = (unsigned char)t[i];
        out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[o] = '\0';
}

/* smtp_reply_parse - one complete reply at the start of buf, or why not */
int smtp_reply_parse(const char *buf, size_t len, struct smtp_reply *reply, size_t *consumed,
                     struct mxtls_diag *diag)
{
    size_t pos = 0;
    int code = 0;

    *consumed = 0;
    memset(reply, 0, sizeof *reply);
    for (;;) {
        size_t start = pos, end, next;
        const char *lf;

        if (reply->n_lines >= SMTP_REPLY_LINES_MAX)
            return mxtls_diag_set(diag, MXTLS_ETOOLONG, pos, "smtp: reply of more than %d lines",
                                  SMTP_REPLY_LINES_MAX);
        if (pos >= len)
            return MXTLS_EAGAIN;
        /* Look for the end of this line within the line cap only. */
        size_t avail = len - pos;
        size_t look = avail < SMTP_REPLY_LINE_MAX ? avail : SMTP_REPLY_LINE_MAX;
        lf = memchr(buf + pos, '\n', look);
        if (lf == NULL) {
            if (avail >= SMTP_REPLY_LINE_MAX)
                return mxtls_diag_set(diag, MXTLS_ETOOLONG, pos,
                                      "smtp: reply line over %d octets (RFC 5321 §4.5.3.1.5)",
                                      SMTP_REPLY_LINE_MAX);
            if (pos + avail > SMTP_REPLY_TOTAL_MAX)
                return mxtls_diag_set(diag, MXTLS_ETOOLONG, pos, "smtp: reply over %d octets",
                                      SMTP_REPLY_TOTAL_MAX);
            /* Check what is there already so garbage is refused early. */
            end = len;
            next = len;
        } else {
            end = (size_t)(lf - buf);
            next = end + 1;
            /* RFC 5321 §2.3.8: lines end in CRLF; a bare LF is tolerated. */
            if (end > start && buf[end - 1] == '\r')
                end--;
            if (next > SMTP_REPLY_TOTAL_MAX)
                return mxtls_diag_set(diag, MXTLS_ETOOLONG, start, "smtp: reply over %d octets",
                                      SMTP_REPLY_TOTAL_MAX);
        }
        /* No NUL or lone CR inside a line (RFC 5321 §4.2: textstring is printable/HT). */
        for (size_t i = start; i < end; i++) {
            if (buf[i] == '\0')
                return mxtls_diag_set(diag, MXTLS_EINVAL, i, "smtp: NUL octet in a reply line");
            if (buf[i] == '\r' && (i + 1 < end || lf != NULL))
                return mxtls_diag_set(diag, MXTLS_EINVAL, i, "smtp: CR not followed by LF");
        }
        /* RFC 5321 §4.2: Reply-code = %x32-35 %x30-35 %x30-39. */
        size_t n = end - start;
        const char *l = buf + start;
        for (size_t i = 0; i < 3 && i < n; i++) {
            if (!is_digit(l[i]) || (i == 0 && (l[0] < '2' || l[0] > '5')) || (i == 1 && l[1] > '5'))
                return mxtls_diag_set(diag, MXTLS_EINVAL, start + i,
                                      "smtp: not an SMTP reply code (RFC 5321 §4.2): \"%.*s\"",
                                      (int)(n < 40 ? n : 40), l);
        }
        if (n > 3 && l[3] != ' ' && l[3] != '-')
            return mxtls_diag_set(diag, MXTLS_EINVAL, start + 3,
                                  "smtp: reply code not followed by space or '-' (RFC 5321 §4.2)");
        if (lf == NULL)
            return MXTLS_EAGAIN;
        if (n < 3)
            return mxtls_diag_set(diag, MXTLS_EINVAL, start,
                                  "smtp: reply line shorter than a reply code");
        int c = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
        /* RFC 5321 §4.2.1: every line of a multi-line reply has the same code. */
        if (reply->n_lines == 0)
            code = c;
        else if (c != code)
            return mxtls_diag_set(diag, MXTLS_EINVAL, start,
                                  "smtp: line with code %d inside a %d reply (RFC 5321 §4.2.1)", c,
                                  code);
        const char *text = n > 4 ? l + 4 : l + n;
        size_t tn = n > 4 ? n - 4 : 0;
        if (reply->n_lines == 0)
            copy_text(text, tn, reply->text, sizeof reply->text);
        else if (is_starttls(text, tn))
            reply->starttls = true;
        reply->n_lines++;
        pos = next;
        if (n == 3 || l[3] == ' ') {
            reply->code = code;
            *consumed = pos;
            return 0;
        }
    }
}
