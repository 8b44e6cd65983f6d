/* sha256 through OpenSSL's EVP interface; digests are "sha256:<hex>". */
#include "util.h"

#include <openssl/evp.h>
#include <string.h>

void sha256_init(struct sha256 *h)
{
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1)
                abort();
        h->md_ctx = c;
}

void sha256_update(struct sha256 *h, const void *p, size_t n)
{
        if (n && EVP_DigestUpdate(h->md_ctx, p, n) != 1)
                abort();
}

static void to_hex(const unsigned char *md, unsigned len, char *out)
{
        static const char hx[] = "0123456789abcdef";
        for (unsigned i = 0; i < len; i++) {
                out[2 * i] = hx[md[i] >> 4];
                out[2 * i + 1] = hx[md[i] & 15];
        }
        out[2 * len] = '\0';
}

void sha256_final(struct sha256 *h, char out[DIGEST_STR_LEN + 1])
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        if (EVP_DigestFinal_ex(h->md_ctx, md, &len) != 1 || len != 32)
                abort();
        memcpy(out, "sha256:", 7);
        to_hex(md, len, out + 7);
        sha256_free(h);
}

void sha256_free(struct sha256 *h)
{
        EVP_MD_CTX_free(h->md_ctx);
        h->md_ctx = NULL;
}

void sha256_digest(const void *p, size_t n, char out[DIGEST_STR_LEN + 1])
{
        struct sha256 h;
        sha256_init(&h);
        sha256_update(&h, p, n);
        sha256_final(&h, out);
}

bool digest_valid(const char *d)
{
        if (!d || strncmp(d, "sha256:", 7) != 0)
                return false;
        const char *x = d + 7;
        size_t i;
        for (i = 0; x[i]; i++)
                if (!((x[i] >= '0' && x[i] <= '9') || (x[i] >= 'a' && x[i] <= 'f')))
                        return false;
        return i == SHA256_HEX_LEN;
}

const char *digest_hex(const char *d)
{
        return d + 7;
}
