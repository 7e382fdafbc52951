/* vendor_abi.h - the interface every vendor adapter implements: the built-in cuDNN and MIOpen
 * adapters (cudnn.c, miopen.c) and plugins loaded from $SAFECONV_VENDOR_LIBRARY (the
 * fault-injection vendor of the tests, tests/fault_vendor/). A plugin exports
 *     const sc_vendor_adapter *safeconv_vendor_adapter(int abi);
 * and returns NULL when it does not speak `abi`.
 *
 * Operand roles are sc_call's (core/internal.h), per direction:
 *   forward:          a = x,  b = w,  c = bias (may be NULL), out = y
 *   backward-data:    a = dy, b = w,                          out = dx
 *   backward-weight:  a = x,  b = dy,                         out = dw, out2 = dbias (may be NULL)
 * Layouts are the public header's (NCHW: x N,C,H,W; w K,C/g,R,S; NHWC: x N,H,W,C; w K,R,S,C/g).
 * Every function returns 0 on success, else the vendor's status number with `err` filled with
 * the vendor's status string. Plain C types only, so a plugin needs nothing but safeconv.h. */
#ifndef SC_VENDOR_ABI_H
#define SC_VENDOR_ABI_H

#include "safeconv.h"

#include <stddef.h>
#include <stdint.h>

#define SC_VENDOR_ABI   1
#define SC_VENDOR_ENTRY "safeconv_vendor_adapter"

enum {
    SC_VENDOR_MEM_HOST = 0,
    SC_VENDOR_MEM_DEVICE = 1
};

typedef struct sc_vendor_op {
    sc_conv2d_desc d;  /* validated */
    int64_t p, q;      /* output height, width */
    sc_direction dir;  /* FORWARD, BACKWARD_DATA or BACKWARD_WEIGHT */
    int deterministic; /* 1: only bit-reproducible vendor algorithms */
    size_t ws_limit;   /* choose an algorithm within this much workspace */
    const void *a, *b, *c;
    void *out, *out2;
    void *ws;
    size_t ws_size;
    void *stream; /* cudaStream_t / hipStream_t (device adapters) */
} sc_vendor_op;

typedef struct sc_vendor_adapter {
    int abi;          /* SC_VENDOR_ABI */
    const char *name; /* "cudnn", "miopen", "fault" */
    int memory;       /* SC_VENDOR_MEM_HOST or SC_VENDOR_MEM_DEVICE */
    sc_algo algo;     /* the public algorithm id its calls are counted under */
    /* Load the vendor library (dlopen); idempotent. */
    int (*load)(char *err, size_t errlen);
    /* After load: version string and the file loaded. */
    const char *(*version)(void);
    const char *(*library)(void);
    /* A handle per context (device = GPU ordinal, or -1). */
    int (*create)(void **handle, int device, char *err, size_t errlen);
    void (*destroy)(void *handle);
    /* Choose an algorithm for op (sizes only: pointers may be NULL) and its workspace. */
    int (*plan)(void *handle, const sc_vendor_op *op, int *algo_id, size_t *ws_bytes, char *err,
                size_t errlen);
    /* Run op with a planned algorithm. Asynchronous on device adapters (op->stream). */
    int (*run)(void *handle, const sc_vendor_op *op, int algo_id, char *err, size_t errlen);
} sc_vendor_adapter;

typedef const sc_vendor_adapter *(*sc_vendor_entry_fn)(int abi);

#endif
