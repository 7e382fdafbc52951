/* guard_hook.h - the seam between dispatch and the guarded vendor route (src/guard/).
 * Until the guard lands, guard_none.c answers "no vendor route" everywhere. */
#ifndef SC_GUARD_HOOK_H
#define SC_GUARD_HOOK_H

#include "core/internal.h"

/* For a GPU context whose strategy is AUTO, VENDOR or SELECTIVE: should this problem go to the
 * vendor library? Sets *use_vendor and, when true, *algo (SC_ALGO_VENDOR_*) and *ws_bytes.
 * AUTO must never probe here (hot path): only read the selection cache.
 * VENDOR with no usable vendor library returns VENDOR_FAILED or NOT_AVAILABLE. */
sc_status sc__guard_select(sc_context *ctx, const sc_problem *pb, sc_direction dir,
                           bool *use_vendor, sc_algo *algo, size_t *ws_bytes);

/* Run a call selected above through the vendor adapter. When the vendor fails it where it was
 * chosen, not forced (auto, selective), the guard takes the shape and direction off the vendor
 * for the context's life and sets *rerun: a new plan of the call takes safeconv's route. */
sc_status sc__guard_run(sc_context *ctx, const sc_call *call, bool *rerun);

/* Free ctx->guard. */
void sc__guard_release(sc_context *ctx);

#endif
