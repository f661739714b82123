/* The load generator of `hyperrep infer --clients N` (the library's
 * hr_edge_load_run does the work): its line on stdout, each failed edge's
 * error on stderr, and the report. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hyperrep/weights.h"
#include "infer.h"

int hr_infer_load_run(const hr_infer_load_opts *o)
{
    const hr_edge_load_params *p = &o->params;
    hr_edge_load_result r;
    hr_error err = {0};
    int rc = 1;
    json_t *msgs = json_array();

    memset(&r, 0, sizeof r);
    if (hr_edge_load_run(p, &r, &err))
        goto fail;
    for (int i = 0; i < r.errors; i++) {
        fprintf(stderr, "hyperrep infer: edge %d: %s\n", r.failures[i].edge, r.failures[i].msg);
        if (json_array_size(msgs) < 10)
            json_array_append_new(msgs, json_sprintf("edge %d: %s", r.failures[i].edge, r.failures[i].msg));
    }
    printf("infer: %d edges x %.3g fps for %.3g s: %lld frames, %.1f fps aggregate, %d errors; latency p50 %.3f p95 "
           "%.3f p99 %.3f ms (round trip p99 %.3f ms); %lld frames started late\n",
           p->clients, p->fps, p->duration_s, (long long)r.frames, r.aggregate_fps, r.errors, r.latency_ms.p50,
           r.latency_ms.p95, r.latency_ms.p99, r.round_trip_ms.p99, (long long)r.late_frames);
    fflush(stdout);
    if (o->output) {
        char ts[32], *text;
        hr_infer_timestamp(ts, sizeof ts);
        json_t *root = json_pack(
            "{s:{s:s, s:s, s:s, s:s, s:s, s:i, s:b, s:s, s:b}, s:i, s:f, s:f, s:f, s:I, s:f, s:i, s:o, s:o, s:o, s:o, "
            "s:{s:I, s:I}, s:I, s:{s:i, s:i, s:i}}",
            "metadata", "tool", "hyperrep infer --clients", "timestamp", ts, "config", o->config_path, "model",
            p->cfg->arch, "server", p->server, "split", p->cfg->split, "vary_split", p->vary_split, "data",
            p->frames->desc, "tls", p->net.tls.cert != NULL, "clients", p->clients, "fps_per_client", p->fps,
            "duration_s", p->duration_s, "wall_s", r.wall_s, "frames", (json_int_t)r.frames, "aggregate_fps",
            r.aggregate_fps, "errors", r.errors, "error_messages", msgs, "latency_ms",
            hr_infer_dist_json(&r.latency_ms), "round_trip_ms", hr_infer_dist_json(&r.round_trip_ms), "tail_ms",
            hr_infer_dist_json(&r.tail_ms), "per_client_frames", "min", (json_int_t)r.min_frames, "max",
            (json_int_t)r.max_frames, "late_frames", (json_int_t)r.late_frames, "timeouts_ms", "connect",
            p->net.connect_timeout_ms, "result", p->timeout_ms, "deploy_ack", p->timeout_ms);
        hr_cli_format_stamp(root, "hyperrep.infer_load");
        msgs = NULL;
        text = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10)) : NULL;
        json_decref(root);
        if (!text || hr_write_file_atomic(o->output, text, strlen(text), &err)) {
            free(text);
            if (!text)
                hr_error_set(&err, HR_ERR_NOMEM, "infer: out of memory");
            goto fail;
        }
        free(text);
    }
    rc = r.errors ? 1 : 0;
    goto out;
fail:
    hr_cli_fail("infer", "%s", err.msg);
out:
    hr_edge_load_result_deinit(&r);
    json_decref(msgs);
    return rc;
}
