/* Reassembly of chunked blobs (hr_blob_rx in include/hyperrep/proto.h).
 *
 * The sender announces the total size, the chunk count and the SHA-256 of the
 * whole blob in every chunk's metadata; the receiver must not trust any of it
 * beyond its own limit. So the buffer grows with the bytes that have actually
 * arrived (a peer announcing 1 GiB and sending nothing costs us nothing), the
 * digest is computed as the chunks arrive (no second pass over the blob), and
 * chunks are accepted strictly in order: a stream is reliable and ordered, so
 * anything else is a sender bug worth reporting rather than tolerating. */
#include "hyperrep/proto.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

struct hr_blob_rx {
    uint64_t total;
    uint32_t chunks;
    uint32_t next;         /* the chunk expected next */
    uint64_t received;     /* bytes so far */
    uint8_t *buf;
    size_t cap;
    char sha[65];          /* announced digest, lower case */
    EVP_MD_CTX *md;
    int handed_over;       /* finish succeeded: buf belongs to the caller */
};

static void to_hex(const unsigned char *d, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * n] = '\0';
}

void hr_sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    static const unsigned char none = 0;

    if (!EVP_Digest(n ? data : &none, n, d, &len, EVP_sha256(), NULL) || len != 32) {
        out[0] = '\0';
        return;
    }
    to_hex(d, 32, out);
}

hr_status hr_blob_rx_create(uint64_t total_bytes, uint32_t chunks, const char *sha256_hex, uint64_t limit_bytes,
                            hr_blob_rx **out, hr_error *err)
{
    hr_blob_rx *b;
    size_t len;

    if (!out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "blob: NULL output");
    if (total_bytes > limit_bytes)
        return hr_error_set(err, HR_ERR_LIMIT, "blob: %llu bytes over the limit of %llu",
                            (unsigned long long)total_bytes, (unsigned long long)limit_bytes);
    if (total_bytes > SIZE_MAX)
        return hr_error_set(err, HR_ERR_LIMIT, "blob: %llu bytes do not fit in memory on this host",
                            (unsigned long long)total_bytes);
    /* Every chunk but an empty blob's single one carries at least a byte on
     * average, which bounds the number of frames a sender can make us
     * process for a blob. */
    if (chunks < 1 || (total_bytes == 0 && chunks != 1) || (total_bytes > 0 && chunks > total_bytes))
        return hr_error_set(err, HR_ERR_FORMAT, "blob: %lu chunks for %llu bytes", (unsigned long)chunks,
                            (unsigned long long)total_bytes);
    len = sha256_hex ? strlen(sha256_hex) : 0;
    if (len != 64 || strspn(sha256_hex, "0123456789abcdefABCDEF") != 64)
        return hr_error_set(err, HR_ERR_FORMAT, "blob: sha256 \"%.70s\" is not 64 hex digits",
                            sha256_hex ? sha256_hex : "(null)");
    b = calloc(1, sizeof *b);
    if (!b)
        return hr_error_set(err, HR_ERR_NOMEM, "blob: out of memory");
    b->md = EVP_MD_CTX_new();
    if (!b->md || !EVP_DigestInit_ex(b->md, EVP_sha256(), NULL)) {
        hr_blob_rx_destroy(b);
        return hr_error_set(err, HR_ERR_NOMEM, "blob: cannot start a SHA-256 digest");
    }
    for (int i = 0; i < 64; i++) {
        char c = sha256_hex[i];
        b->sha[i] = (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
    }
    b->sha[64] = '\0';
    b->total = total_bytes;
    b->chunks = chunks;
    *out = b;
    return HR_OK;
}

/* Makes room for `need` bytes, doubling up to the announced total so that a
 * blob of many chunks is copied O(log chunks) times at most. */
static int reserve(hr_blob_rx *b, size_t need)
{
    size_t cap = b->cap ? b->cap : 4096;
    uint8_t *p;
    if (need <= b->cap)
        return 1;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
    if (cap > b->total)
        cap = (size_t)b->total;
    if (cap < need)
        cap = need;
    p = realloc(b->buf, cap);
    if (!p)
        return 0;
    b->buf = p;
    b->cap = cap;
    return 1;
}

hr_status hr_blob_rx_add(hr_blob_rx *b, uint32_t chunk, const void *data, size_t n, hr_error *err)
{
    uint64_t end;

    if (!b || (!data && n > 0))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "blob: NULL argument");
    if (b->next >= b->chunks)
        return hr_error_set(err, HR_ERR_FORMAT, "blob: chunk %lu arrived after all %lu chunks",
                            (unsigned long)chunk, (unsigned long)b->chunks);
    if (chunk != b->next)
        return hr_error_set(err, HR_ERR_FORMAT, "blob: chunk %lu arrived, expected chunk %lu of %lu%s",
                            (unsigned long)chunk, (unsigned long)b->next, (unsigned long)b->chunks,
                            chunk < b->next ? " (duplicate)" : "");
    end = b->received + n;
    if (n > b->total - b->received)
        return hr_error_set(err, HR_ERR_FORMAT, "blob: chunk %lu of %zu bytes at offset %llu overruns the total of %llu",
                            (unsigned long)chunk, n, (unsigned long long)b->received,
                            (unsigned long long)b->total);
    if (chunk == b->chunks - 1 && end != b->total)
        return hr_error_set(err, HR_ERR_FORMAT, "blob: last chunk %lu ends at %llu bytes, the total is %llu",
                            (unsigned long)chunk, (unsigned long long)end, (unsigned long long)b->total);
    if (n > 0) {
        if (!reserve(b, (size_t)end))
            return hr_error_set(err, HR_ERR_NOMEM, "blob: out of memory for %llu bytes", (unsigned long long)end);
        if (!EVP_DigestUpdate(b->md, data, n))
            return hr_error_set(err, HR_ERR_INTERNAL, "blob: SHA-256 update failed");
        memcpy(b->buf + b->received, data, n);
    }
    b->received = end;
    b->next++;
    return HR_OK;
}

int hr_blob_rx_complete(const hr_blob_rx *b)
{
    return b && b->next == b->chunks;
}

hr_status hr_blob_rx_finish(hr_blob_rx *b, void **data, size_t *n, hr_error *err)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    char got[65];
    EVP_MD_CTX *copy;

    if (!b || !data || !n)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "blob: NULL argument");
    if (b->handed_over)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "blob: already finished");
    if (!hr_blob_rx_complete(b) || b->received != b->total)
        return hr_error_set(err, HR_ERR_FORMAT, "blob: incomplete: %lu of %lu chunks, %llu of %llu bytes",
                            (unsigned long)b->next, (unsigned long)b->chunks, (unsigned long long)b->received,
                            (unsigned long long)b->total);
    /* Finalise a copy so a failed finish leaves the receiver unchanged. */
    copy = EVP_MD_CTX_new();
    if (!copy)
        return hr_error_set(err, HR_ERR_NOMEM, "blob: out of memory");
    if (!EVP_MD_CTX_copy_ex(copy, b->md) || !EVP_DigestFinal_ex(copy, d, &len) || len != 32) {
        EVP_MD_CTX_free(copy);
        return hr_error_set(err, HR_ERR_INTERNAL, "blob: SHA-256 finalisation failed");
    }
    EVP_MD_CTX_free(copy);
    to_hex(d, 32, got);
    if (strcmp(got, b->sha) != 0)
        return hr_error_set(err, HR_ERR_FORMAT, "blob: SHA-256 of the %llu bytes received is %s, announced %s",
                            (unsigned long long)b->total, got, b->sha);
    if (!b->buf) {
        /* An empty blob still hands over a pointer the caller can free. */
        b->buf = malloc(1);
        if (!b->buf)
            return hr_error_set(err, HR_ERR_NOMEM, "blob: out of memory");
    }
    *data = b->buf;
    *n = (size_t)b->total;
    b->buf = NULL;
    b->cap = 0;
    b->handed_over = 1;
    return HR_OK;
}

void hr_blob_rx_destroy(hr_blob_rx *b)
{
    if (!b)
        return;
    EVP_MD_CTX_free(b->md);
    free(b->buf);
    free(b);
}
