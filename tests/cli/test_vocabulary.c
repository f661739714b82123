/* docs/CLI.md against the binary: each flag of "Flags with one meaning" is
 * in the --help of every command listed for it and is accepted there (given
 * without its value, getopt asks for the value instead of calling it
 * unknown); each old spelling of "Renamed" fails with exit code 2 and names
 * the new one. The file is the contract; this keeps it true. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hr_test.h"

HR_CLI_BUFFERS;

#define CLI_MD HR_FIXTURES_DIR "/../../docs/CLI.md"

/* The cells of a markdown table row "| a | b | c |" (at most n; returns
 * how many); backticks are dropped. Modifies line. */
static int cells(char *line, char **out, int n)
{
    int k = 0;
    char *p = strchr(line, '|');
    while (p && k < n) {
        char *q = strchr(p + 1, '|'), *s, *e;
        if (!q)
            break;
        *q = '\0';
        for (s = p + 1; *s == ' ' || *s == '`'; s++)
            ;
        for (e = s + strlen(s); e > s && (e[-1] == ' ' || e[-1] == '`'); e--)
            ;
        *e = '\0';
        out[k++] = s;
        p = q;
    }
    return k;
}

/* The table under the heading `title` (the rows after its separator). */
static char **table_rows(const char *title, int *n)
{
    FILE *f = fopen(CLI_MD, "r");
    char line[1024], **rows = NULL;
    int in = 0, sep = 0;
    *n = 0;
    if (!f)
        fail_msg("cannot open %s", CLI_MD);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "## ", 3) == 0) {
            in = strcmp(line + 3, title) == 0;
            sep = 0;
            continue;
        }
        if (!in || line[0] != '|')
            continue;
        if (strncmp(line, "|---", 4) == 0) {
            sep = 1;
            continue;
        }
        if (!sep)
            continue;
        rows = realloc(rows, sizeof *rows * (size_t)(*n + 1));
        assert_non_null(rows);
        rows[(*n)++] = strdup(line);
    }
    fclose(f);
    if (*n == 0)
        fail_msg("%s: no table under '## %s'", CLI_MD, title);
    return rows;
}

/* A flag with a value (the table names it: "-o FILE"), given without it:
 * the command asks for the value. One without ("--insecure-plain-tcp"),
 * given with --help: the command prints its help. An unknown flag is
 * "unrecognized" either way, and nothing is run. */
static void expect_accepted(const char *cmd, const char *flag, int takes_value)
{
    char args[256];
    snprintf(args, sizeof args, takes_value ? "%s %s" : "%s %s --help", cmd, flag);
    int rc = HR_RUN_CLI(NULL, args);
    if (rc != (takes_value ? 2 : 0) || strstr(err_text, "unrecognized option") ||
        strstr(err_text, "invalid option") || (takes_value && !strstr(err_text, "requires an argument")))
        fail_msg("`hyperrep %s` -> %d: %s is not a flag of %s (stderr: %s)", args, rc, flag, cmd, err_text);
}

static void test_flags(void **state)
{
    (void)state;
    int n, checked = 0;
    char **rows = table_rows("Flags with one meaning", &n);
    for (int i = 0; i < n; i++) {
        char *c[3], *cmd, *save = NULL, args[256];
        assert_int_equal(cells(rows[i], c, 3), 3);
        /* "-o FILE": the flag, then its value's name */
        char *sp = strchr(c[0], ' ');
        int takes_value = sp != NULL;
        if (sp)
            *sp = '\0';
        for (cmd = strtok_r(c[2], ",", &save); cmd; cmd = strtok_r(NULL, ",", &save)) {
            while (*cmd == ' ')
                cmd++;
            snprintf(args, sizeof args, "%s --help", cmd);
            HR_EXPECT_CLI(NULL, args, 0, out_text, c[0]);
            expect_accepted(cmd, c[0], takes_value);
            if (strcmp(c[0], "-o") == 0)
                expect_accepted(cmd, "--output", 1);
            checked++;
        }
        free(rows[i]);
    }
    free(rows);
    assert_true(checked >= 20);
}

static void test_renamed(void **state)
{
    (void)state;
    int n;
    char **rows = table_rows("Renamed", &n);
    for (int i = 0; i < n; i++) {
        char *c[3], *cmd, *save = NULL, args[256], want[128];
        assert_int_equal(cells(rows[i], c, 3), 3);
        for (cmd = strtok_r(c[0], ",", &save); cmd; cmd = strtok_r(NULL, ",", &save)) {
            while (*cmd == ' ')
                cmd++;
            snprintf(args, sizeof args, "%s %s x", cmd, c[1]);
            snprintf(want, sizeof want, "is now %s", c[2]);
            HR_EXPECT_CLI(NULL, args, 2, err_text, want);
        }
        free(rows[i]);
    }
    free(rows);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_flags), cmocka_unit_test(test_renamed)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
