/* Text that came from a peer or a file, made safe to print (issue 15): one
 * sanitizer for every such string written to a terminal or a log. */
#ifndef HR_CORE_TEXT_H
#define HR_CORE_TEXT_H

#include <stddef.h>

/* Copies src (NULL: "") into buf (size n >= 1, NUL-terminated, truncated)
 * with every byte outside printable ASCII (0x20..0x7e) replaced by '?', so
 * that it can neither forge log lines (newlines) nor drive a terminal
 * (escape sequences, C1 controls). src may be buf itself. Returns buf. */
char *hr__text_clean(char *buf, size_t n, const char *src);

#endif
