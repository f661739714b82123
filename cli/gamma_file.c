/* γ assignment files shared by the subcommands that run a model (forward,
 * eval): a JSON object {block: γ}, or a file holding one under optimal_gamma
 * (optimize), gamma_config / final_configuration.gamma_config (joint) or
 * stage2_throughput.optimal_gamma. */
#include <jansson.h>
#include <stdlib.h>

#include "cli.h"

/* Finds the {block: γ} object in a parsed config file. */
static json_t *find_gamma_object(json_t *root)
{
    json_t *o;
    if ((o = json_object_get(root, "optimal_gamma")) && json_is_object(o))
        return o;
    if ((o = json_object_get(root, "gamma_config")) && json_is_object(o))
        return o;
    if ((o = json_object_get(root, "final_configuration")) && (o = json_object_get(o, "gamma_config")) &&
        json_is_object(o))
        return o;
    if ((o = json_object_get(root, "stage2_throughput")) && (o = json_object_get(o, "optimal_gamma")) &&
        json_is_object(o))
        return o;
    return root;
}

int hr_cli_read_gamma_file(const char *cmd, const hr_model *m, const char *path, int *out)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr), *obj;
    const char *key;
    json_t *val;
    int ok = 1;

    if (!root) {
        hr_cli_fail(cmd, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        return 0;
    }
    obj = find_gamma_object(root);
    if (!json_is_object(obj)) {
        hr_cli_fail(cmd, "%s: expected a JSON object mapping blocks to gamma", path);
        json_decref(root);
        return 0;
    }
    json_object_foreach(obj, key, val) {
        int b = hr_model_find_block(m, key), g = -1;
        if (b < 0) {
            hr_cli_fail(cmd, "%s: block '%s' does not exist in %s", path, key, hr_model_arch(m)->name);
            ok = 0;
            break;
        }
        if (json_is_integer(val) && json_integer_value(val) >= 0 && json_integer_value(val) < HR_GAMMA_COUNT)
            g = (int)json_integer_value(val);
        else if (json_is_string(val))
            g = hr_gamma_parse(json_string_value(val));
        if (g < 0) {
            char *s = json_dumps(val, JSON_ENCODE_ANY);
            hr_cli_fail(cmd, "%s: block '%s': gamma %s is not 0..13 or a gamma name", path, key, s ? s : "?");
            free(s);
            ok = 0;
            break;
        }
        out[b] = g;
    }
    json_decref(root);
    return ok;
}
