/*
 * fuzz_dns_rrsig - libFuzzer target for io/dns.c's reading of the RRSIG
 * records of a DNS answer (dns_rrsig_scan, RFC 4034 §3.1), which `mxtls
 * check` uses for its rrsig-expiring finding. The bytes are libunbound's
 * answer_packet, i.e. a DNS message from the network.
 *
 * Invariants, abort() on violation: never reads past the input (ASan);
 * no RRSIG means an expiration of 0; an expiration is within 2^31 seconds
 * of now (serial number arithmetic, RFC 4034 §3.1.5); the result does not
 * depend on bytes after the message's answer section being readable (the
 * same input with trailing bytes gives the same count).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const int64_t now = 1800000000;
    int64_t exp = -1;
    size_t n = dns_rrsig_scan(data, size, now, &exp);
    if (n == 0 && exp != 0)
        abort();
    if (n > 0 && (exp < now - 2147483648LL || exp > now + 2147483647LL))
        abort();
    if (n > size / 29) /* an RRSIG takes at least 2 + 10 + 18 octets, less one for a root name */
        abort();
    unsigned char *copy = malloc(size + 16);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    memset(copy + size, 0xff, 16);
    int64_t exp2 = -1;
    size_t n2 = dns_rrsig_scan(copy, size + 16, now, &exp2);
    if (n > 0 && (n2 != n || exp2 != exp))
        abort();
    free(copy);
    return 0;
}
