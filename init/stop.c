/*
 * stop.c: SIGTERM and SIGINT turned into a stop request (stop.h).
 *
 * The signals are taken by sigwait() on a thread of our own rather than
 * by a handler, so the reaction runs as ordinary code: it may log, and
 * no system call of the workers is interrupted half-way.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exitcode.h"
#include "http.h"
#include "log.h"
#include "stop.h"
#include "unseal.h"
#include "util.h"

static int stop_flag_value;
static stop_hook_fn stop_hook;
static void *stop_hook_arg;

static void
stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
}

/* Let the run clean up on its own; absorb further signals meanwhile. */
static void
stop_grace(const sigset_t *set)
{
	uint64_t end = now_ns() + (uint64_t)STOP_GRACE_S * 1000000000ULL;
	struct timespec ts;
	uint64_t left;
	uint64_t now;

	for (now = now_ns(); now < end; now = now_ns()) {
		left = end - now;
		ts.tv_sec = (time_t)(left / 1000000000ULL);
		ts.tv_nsec = (long)(left % 1000000000ULL);
		(void)sigtimedwait(set, NULL, &ts);
	}
}

static void *
stop_main(void *arg)
{
	sigset_t set;
	int sig = 0;

	(void)arg;
	stop_signals(&set);
	while (sigwait(&set, &sig) != 0) {
	}

	__atomic_store_n(&stop_flag_value, 1, __ATOMIC_RELEASE);
	log_event(LOG_WARN, "init.signal.received", "terminated",
		  LOG_STR("signal", sig == SIGINT ? "SIGINT" : "SIGTERM"),
		  LOG_U64("grace_s", STOP_GRACE_S));
	unseal_interrupt();
	http_cancel_all();

	stop_grace(&set);
	/* XXX: a step we cannot interrupt outlived the grace period; other
	 * threads may still be writing while the hook removes output. */
	if (stop_hook != NULL) {
		stop_hook(stop_hook_arg);
	}
	log_event(LOG_ERR, "init.failed", "terminated", LOG_STR("step", "stop"),
		  LOG_BOOL("forced", 1), LOG_I64("exit_code", EXIT_TERMINATED));
	_exit(EXIT_TERMINATED);
	return NULL;
}

int
stop_start(stop_hook_fn hook, void *arg)
{
	pthread_attr_t attr;
	pthread_t tid;
	sigset_t set;
	int rc = -1;
	int e;

	stop_hook = hook;
	stop_hook_arg = arg;
	stop_signals(&set);
	/* An inherited "ignore" would discard them before sigwait() saw
	 * them (a shell's background job starts with SIGINT ignored). */
	(void)signal(SIGTERM, SIG_DFL);
	(void)signal(SIGINT, SIG_DFL);
	e = pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (e != 0) {
		goto out;
	}
	e = pthread_attr_init(&attr);
	if (e != 0) {
		goto out;
	}
	(void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	e = pthread_create(&tid, &attr, stop_main, NULL);
	pthread_attr_destroy(&attr);
	if (e == 0) {
		rc = 0;
	}
out:
	/* Without the thread, the default action is better than none. */
	if (rc != 0) {
		(void)pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	}
	if (rc != 0) {
		log_event(LOG_ERR, "init.setup.failed", "signal_thread_failed",
			  LOG_ERRNO(e));
	}
	return rc;
}

int
stop_requested(void)
{
	return __atomic_load_n(&stop_flag_value, __ATOMIC_ACQUIRE) != 0;
}

const int *
stop_flag(void)
{
	return &stop_flag_value;
}
