/* Helpers shared by the LUT tests (header only: every test file is its own
 * executable): reading files, editing fixture text, and parsing γ reports
 * (the original's full_gamma_analysis.md and ours) into cells. */
#ifndef HR_LUT_TEST_UTIL_H
#define HR_LUT_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LT_MAX_TABLES 128
#define LT_MAX_COLS 12
#define LT_CELL 48

typedef struct lt_table {
    char block[32];
    char device[8];   /* "SERVER" / "CLIENT" */
    double knee;
    int nrows, ncols;
    char cell[14][LT_MAX_COLS][LT_CELL];
} lt_table;

typedef struct lt_report {
    int ntables;
    lt_table t[LT_MAX_TABLES];
    int nlegend;
    char legend[14][160]; /* legend rows as printed */
} lt_report;

/* Reads a whole file (NUL-terminated); NULL when it cannot be read. */
static inline char *lt_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (size)
            *size = (size_t)n;
    }
    return buf;
}

/* Returns a malloc'd copy of text with the first occurrence of `from`
 * replaced by `to`; NULL when `from` does not occur. */
static inline char *lt_replace(const char *text, const char *from, const char *to)
{
    const char *p = strstr(text, from);
    size_t a, n;
    char *out;
    if (!p)
        return NULL;
    a = (size_t)(p - text);
    n = strlen(text) - strlen(from) + strlen(to);
    out = malloc(n + 1);
    if (!out)
        return NULL;
    memcpy(out, text, a);
    memcpy(out + a, to, strlen(to));
    strcpy(out + a + strlen(to), p + strlen(from));
    return out;
}

static inline void lt_trim(char *s)
{
    size_t n = strlen(s), i = 0;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    while (s[i] == ' ')
        i++;
    memmove(s, s + i, n - i + 1);
}

/* Parses the γ tables ("### stage1.0 @ CLIENT (I_knee = 16.10 FLOPs/Byte)"
 * followed by data rows "| 0 | SOLO_K3 | ... |") and the legend rows.
 * Returns 0 on success. */
static inline int lt_parse_report(const char *text, lt_report *r)
{
    const char *p = text;
    lt_table *cur = NULL;
    int in_legend = 0;
    memset(r, 0, sizeof *r);
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char line[1024];
        if (n >= sizeof line)
            return -1;
        memcpy(line, p, n);
        line[n] = '\0';
        p += n + (e ? 1 : 0);
        if (strncmp(line, "## γ Configuration Legend", strlen("## γ Configuration Legend")) == 0) {
            in_legend = 1;
            continue;
        }
        if (strncmp(line, "### ", 4) == 0) {
            in_legend = 0;
            if (r->ntables >= LT_MAX_TABLES)
                return -1;
            cur = &r->t[r->ntables++];
            if (sscanf(line, "### %31s @ %7s (I_knee = %lf", cur->block, cur->device, &cur->knee) != 3)
                return -1;
            continue;
        }
        if (line[0] != '|' || !(line[2] >= '0' && line[2] <= '9'))
            continue;
        if (in_legend) {
            if (r->nlegend < 14 && strlen(line) < sizeof r->legend[0])
                memcpy(r->legend[r->nlegend++], line, strlen(line) + 1);
            continue;
        }
        if (!cur || cur->nrows >= 14)
            return -1;
        {
            int col = 0;
            char *s = line + 1, *bar;
            while ((bar = strchr(s, '|')) && col < LT_MAX_COLS) {
                size_t len = (size_t)(bar - s) < LT_CELL - 1 ? (size_t)(bar - s) : LT_CELL - 1;
                memcpy(cur->cell[cur->nrows][col], s, len);
                cur->cell[cur->nrows][col][len] = '\0';
                lt_trim(cur->cell[cur->nrows][col]);
                col++;
                s = bar + 1;
            }
            if (cur->nrows == 0)
                cur->ncols = col;
            else if (col != cur->ncols)
                return -1;
            cur->nrows++;
        }
    }
    return 0;
}

static inline const lt_table *lt_find(const lt_report *r, const char *block, const char *device)
{
    for (int i = 0; i < r->ntables; i++)
        if (strcmp(r->t[i].block, block) == 0 && strcmp(r->t[i].device, device) == 0)
            return &r->t[i];
    return NULL;
}

#endif
