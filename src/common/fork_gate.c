/* fork_gate.c - see fork_gate.h. */
#include "common/fork_gate.h"

#include <pthread.h>

/* Writer-preferring: a probe waiting to fork is not starved by a dozen threads that keep
 * calling kernels. */
static pthread_rwlock_t gate = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;

void sc__fork_gate_enter(void) { pthread_rwlock_rdlock(&gate); }
void sc__fork_gate_leave(void) { pthread_rwlock_unlock(&gate); }
void sc__fork_gate_close(void) { pthread_rwlock_wrlock(&gate); }

void sc__fork_gate_open(int in_child)
{
    if (!in_child) {
        pthread_rwlock_unlock(&gate);
        return;
    }
    /* The lock records the parent thread's id as its writer: start the child's afresh. */
    pthread_rwlock_t fresh = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
    gate = fresh;
}
