/* Peer text made printable (core/text.h). */
#include "core/text.h"

char *hr__text_clean(char *buf, size_t n, const char *src)
{
    size_t i = 0;
    if (!buf || n == 0)
        return buf;
    if (src)
        for (; i + 1 < n && src[i]; i++) {
            unsigned char c = (unsigned char)src[i];
            buf[i] = c >= 0x20 && c <= 0x7e ? (char)c : '?';
        }
    buf[i] = '\0';
    return buf;
}
