/*
 * control.h: the main thread once serving: signals, the health port,
 * the ready-marker tick and the drain.
 *
 *   SIGTERM, SIGINT  readiness off at once; after timeouts.drain_delay_s
 *                    stop accepting and let every connection finish its
 *                    exchange; after timeouts.drain_s more, close what is
 *                    left. Either way exit status 0. A second signal
 *                    closes everything at once.
 *   SIGHUP           reload the certificate (reload.h).
 */
#ifndef SEALPOD_CONTROL_H
#define SEALPOD_CONTROL_H

#include "err.h"

struct server;

/*
 * Serve until the workers have drained. The signals must already be
 * blocked in every thread. Returns SP_OK, or SP_E_INTERNAL when the
 * control loop itself cannot run (the caller then stops the workers).
 */
SP_MUST_CHECK enum sp_err control_run(struct server *srv);

#endif
