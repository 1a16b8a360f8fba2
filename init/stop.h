/*
 * stop.h: SIGTERM and SIGINT during `sealpod-init run` (pod deleted,
 * kubelet or `timeout` stopping us), handled on a thread of their own.
 *
 * stop_start() blocks both signals in the calling thread, before any
 * other thread exists, so every later thread (KBS, curl resolver,
 * unseal workers) inherits the mask; one thread then takes them with
 * sigwait(). On the first signal it logs init.signal.received, sets the
 * process-wide stop flag (the KBS client reads it through its cancel
 * pointer and retries no more), aborts every HTTP transfer
 * (http_cancel_all()) and asks a running unseal to stop.
 * The run's normal failure path then removes what it wrote, wipes the
 * keys, logs init.failed with reason "terminated" and exits with
 * EXIT_TERMINATED. Should that take longer than STOP_GRACE_S (a step
 * that cannot be interrupted, such as evidence collection), the thread
 * runs the caller's last-resort hook and ends the process with
 * _exit(EXIT_TERMINATED) itself, well inside Kubernetes' default 30 s
 * grace period.
 */
#ifndef SEALPOD_STOP_H
#define SEALPOD_STOP_H

#include <stdint.h>

#define STOP_GRACE_S 10

/*
 * Called by the stop thread after STOP_GRACE_S, while other threads may
 * still run: remove what the run wrote, best effort, then return; the
 * process ends right after. It must not free anything.
 */
typedef void (*stop_hook_fn)(void *arg);

/*
 * Block SIGTERM and SIGINT and start the stop thread. Call once, from
 * the main thread, before any other thread is created; hook (may be
 * NULL) and arg are kept for the life of the process. Returns 0, or -1
 * (logged) when the thread cannot be started.
 */
int stop_start(stop_hook_fn hook, void *arg);

/* 1 once SIGTERM or SIGINT has arrived, else 0. Any thread. */
int stop_requested(void);

/*
 * The stop flag itself (0, then 1 for good), for the cancel pointers of
 * http_opts, source_opts and kbs_opts. Valid for the whole process.
 */
const int *stop_flag(void);

/*
 * The step the run is in ("attest", ...; a string that lives as long as
 * the process), named by the forced-stop and timeout events. Any thread.
 */
void stop_note_step(const char *step);

/*
 * The evidence deadline (config attest_timeout_s): evidence comes from
 * drivers and firmware (NVML, a TPM) whose calls cannot be interrupted.
 * stop_attest_timeout() sets the budget in seconds once (0: none, the
 * default). stop_attest_begin() arms it; stop_attest_end() disarms it and
 * returns 0. Should the budget run out in between, the stop thread logs
 * init.attest.timeout (reason evidence_timeout), runs the hook, logs
 * init.failed and ends the process with EXIT_ATTEST; stop_attest_end()
 * then waits for that end and, should it not come, returns -1. Arming is
 * not nested. Without stop_start() nothing fires.
 */
void stop_attest_timeout(uint64_t seconds);
void stop_attest_begin(void);
int stop_attest_end(void);

#endif
