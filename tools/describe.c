/* describe.c - see describe.h. */
#include "describe.h"
#include "check.h"

const char *sc_backend_name(int backend)
{
    return backend == SC_BACKEND_CUDA ? "cuda" : backend == SC_BACKEND_HIP ? "hip" : "cpu";
}

const char *sc_dtype_name(sc_dtype t)
{
    return t == SC_DTYPE_F32    ? "f32"
           : t == SC_DTYPE_F16  ? "f16"
           : t == SC_DTYPE_BF16 ? "bf16"
                                : "?";
}

void sc_json_device(sc_json *j, const char *key, const sc_device_info *i)
{
    sc_json_object(j, key);
    sc_json_int(j, "index", i->index);
    sc_json_string(j, "backend", sc_backend_name(i->backend));
    sc_json_string(j, "name", i->name);
    sc_json_string(j, "arch", i->arch);
    sc_json_int(j, "multiprocessors", i->multiprocessors);
    sc_json_int(j, "warp_size", i->warp_size);
    sc_json_uint(j, "total_memory", (unsigned long long)i->total_memory);
    sc_json_int(j, "driver_version", i->driver_version);
    sc_json_int(j, "runtime_version", i->runtime_version);
    sc_json_end(j);
}

void sc_json_devices(sc_json *j, const char *key)
{
    sc_json_array(j, key);
    sc_device_info info;
    int n = sc_device_count();
    for (int d = 0; d < n; d++) {
        if (sc_device_get_info(d, &info) == SC_STATUS_OK) {
            sc_json_device(j, NULL, &info);
        } else {
            sc_json_object(j, NULL);
            sc_json_int(j, "index", d);
            sc_json_string(j, "error", sc_last_error());
            sc_json_end(j);
        }
    }
    if (sc_device_get_info(SC_DEVICE_CPU, &info) == SC_STATUS_OK) sc_json_device(j, NULL, &info);
    sc_json_end(j);
}

void sc_json_backends(sc_json *j, const char *key, unsigned mask)
{
    sc_json_array(j, key);
    if (mask & SC_BACKEND_CPU) sc_json_string(j, NULL, "cpu");
    if (mask & SC_BACKEND_CUDA) sc_json_string(j, NULL, "cuda");
    if (mask & SC_BACKEND_HIP) sc_json_string(j, NULL, "hip");
    sc_json_end(j);
}

void sc_json_desc(sc_json *j, const char *key, const sc_conv2d_desc *d)
{
    sc_json_object(j, key);
    const struct {
        const char *name;
        int64_t v;
    } f[] = {{"n", d->n},
             {"c", d->c},
             {"h", d->h},
             {"w", d->w},
             {"k", d->k},
             {"r", d->r},
             {"s", d->s},
             {"stride_h", d->stride_h},
             {"stride_w", d->stride_w},
             {"pad_h", d->pad_h},
             {"pad_w", d->pad_w},
             {"dil_h", d->dil_h},
             {"dil_w", d->dil_w},
             {"groups", d->groups}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        sc_json_int(j, f[i].name, (long long)f[i].v);
    sc_json_string(j, "layout", d->layout == SC_NHWC ? "nhwc" : "nchw");
    sc_json_string(j, "dtype", sc_dtype_name(d->dtype));
    char text[192];
    sc_desc_format(d, text, sizeof text);
    sc_json_string(j, "text", text);
    sc_json_end(j);
}

void sc_json_outcomes(sc_json *j, const char *key, const int counts[9])
{
    sc_json_object(j, key);
    for (int o = SC_PROBE_SEEN; o <= SC_PROBE_NO_VENDOR; o++)
        sc_json_int(j, sc_probe_outcome_name((sc_probe_outcome)o), counts[o]);
    sc_json_int(j, "unknown", counts[8]);
    sc_json_end(j);
}
