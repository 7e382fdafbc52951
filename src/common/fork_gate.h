/* fork_gate.h - no fork of the probe while a thread is inside a CPU kernel.
 *
 * A CPU-only probe with no `safeconv` executable forks without exec, and the child runs
 * safeconv's CPU kernels. fork() runs OpenBLAS's atfork handler, which shuts its thread pool
 * down: with another thread in the middle of an sgemm that handler waits forever (the parent
 * hangs in fork), and a lock held by such a thread is held forever in the child (its own run
 * "did not finish within the watchdog"). The gate is a writer-preferring rwlock: every CPU
 * kernel call holds it shared; the probe holds it exclusively across its fork, so the fork
 * happens with no safeconv thread inside OpenBLAS (threads of the application that call a BLAS
 * directly are out of its reach). */
#ifndef SC_COMMON_FORK_GATE_H
#define SC_COMMON_FORK_GATE_H

void sc__fork_gate_enter(void); /* around a CPU kernel call (shared; never nested) */
void sc__fork_gate_leave(void);

/* Around fork(): close the gate (waits for calls in flight) ... then open it in the parent,
 * or reset it in the child (its only thread did not take it in the child's own right). */
void sc__fork_gate_close(void);
void sc__fork_gate_open(int in_child);

#endif
