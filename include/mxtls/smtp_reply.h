/*
 * smtp_reply - parse one SMTP reply (RFC 5321 §4.2) from a hostile server.
 *
 * smtp_reply_parse() looks at the octets received so far and says whether
 * they hold one complete reply: one or more lines "ddd-text" ended by one
 * "ddd text" (or a bare "ddd") line, every line with the same code
 * (RFC 5321 §4.2.1). It is pure and bounded: it never reads past len, a line
 * longer than SMTP_REPLY_LINE_MAX octets or a reply longer than
 * SMTP_REPLY_TOTAL_MAX octets (or SMTP_REPLY_LINES_MAX lines) is refused
 * as soon as it is seen, even before the reply is complete, so a peer that
 * sends megabytes of continuation lines is cut off after the cap. It keeps
 * no state between calls: call it again on the whole buffer when more octets
 * arrive (the caps make that cheap).
 *
 * For an EHLO reply it also reports whether the STARTTLS keyword (RFC 3207
 * §4) is among the extension lines. The text of the first line is copied,
 * sanitised (printable ASCII only), for messages.
 */
#ifndef MXTLS_SMTP_REPLY_H
#define MXTLS_SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "mxtls/diag.h"

/*
 * RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets including the
 * CRLF. Real servers stay far below; we tolerate twice that before calling
 * the line oversized.
 */
#define SMTP_REPLY_LINE_MAX 1024
/* Cap on one whole (multi-line) reply: a real EHLO reply is under 1 KiB. */
#define SMTP_REPLY_TOTAL_MAX 65536
/* Cap on the number of lines of one reply. */
#define SMTP_REPLY_LINES_MAX 512
/* Room for the first line's text, sanitised. */
#define SMTP_REPLY_TEXT_MAX 256

struct smtp_reply {
    int code;                       /* 200..599, RFC 5321 §4.2 */
    size_t n_lines;                 /* lines in the reply, >= 1 */
    bool starttls;                  /* a line after the first is the STARTTLS keyword */
    char text[SMTP_REPLY_TEXT_MAX]; /* the first line after "ddd ", sanitised, maybe cut */
};

/*
 * smtp_reply_parse - parse the reply at the start of (buf, len). Lines end in
 * CRLF; a bare LF is tolerated (many senders accept it) but a CR not followed
 * by LF, or a NUL, is malformed. Returns:
 *   0            a complete reply: *reply filled, *consumed = its octets;
 *   MXTLS_EAGAIN no complete reply yet, no rule broken so far;
 *   MXTLS_EINVAL not an SMTP reply (no 3-digit code, bad separator, codes
 *                that differ between lines, first digit not 2-5, ...);
 *   MXTLS_ETOOLONG a line, the line count or the reply over its cap.
 * On an error diag says what and at which offset, and *consumed is 0.
 */
int smtp_reply_parse(const char *buf, size_t len, struct smtp_reply *reply, size_t *consumed,
                     struct mxtls_diag *diag);

#endif
