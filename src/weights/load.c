/* Model weights in either format the project reads, told apart by content
 * rather than by the file's name: a checkpoint renamed .bin or saved without
 * an extension is still the format it is. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hyperrep/weights.h"

hr_status hr_weights_load(const char *path, hr_tensor_map **out, hr_error *err)
{
    unsigned char magic[4] = {0};
    size_t n;
    FILE *f = fopen(path, "rb");
    if (!f)
        return hr_error_set(err, HR_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    n = fread(magic, 1, sizeof magic, f);
    fclose(f);
    if (n == sizeof magic && memcmp(magic, "PK\3\4", 4) == 0)
        return hr_pth_load(path, out, err);
    return hr_safetensors_load(path, out, err);
}
