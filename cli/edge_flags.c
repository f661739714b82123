/* The edge emulation flags shared by infer and client (cli.h). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "cli.h"
#include "hyperrep/lut.h"

int hr_cli_edge_option(const char *cmd, hr_cli_edge *e, int is_profile, const char *arg)
{
    hr_error err = {0};
    if (is_profile ? e->slowdown > 0 : e->profile != NULL) {
        hr_cli_fail(cmd, "--edge and --edge-slowdown are exclusive (one emulated edge)");
        return 0;
    }
    if (is_profile) {
        const hr_edge_profile *p;
        if (hr_edge_profile_find(arg, &p, &err)) {
            hr_cli_fail(cmd, "--edge: %s", err.msg);
            return 0;
        }
        e->profile = p->name;
        return 1;
    }
    char *end;
    double v;
    errno = 0;
    v = strtod(arg, &end);
    if (!*arg || errno || *end || !isfinite(v) || v < 1 || v > 1e6) {
        hr_cli_fail(cmd, "--edge-slowdown: '%s' is not a factor in [1, 1e6] (an emulation can only slow this "
                    "machine down)", arg);
        return 0;
    }
    e->slowdown = v;
    return 1;
}
