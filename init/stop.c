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

/* How often the stop thread looks at the evidence deadline. */
#define STOP_POLL_NS 200000000L
/* How long stop_attest_end() waits for the process to end. */
#define STOP_ATTEST_WAIT_S (2 * STOP_GRACE_S)

enum stop_attest_state {
	STOP_ATTEST_IDLE,
	STOP_ATTEST_ARMED,
	STOP_ATTEST_FIRED
};

static int stop_flag_value;
static stop_hook_fn stop_hook;
static void *stop_hook_arg;
static const char *stop_step = "start";
static uint64_t stop_attest_s;
static uint64_t stop_attest_deadline; /* now_ns() value */
static int stop_attest_state;

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

static const char *
step_now(void)
{
	return __atomic_load_n(&stop_step, __ATOMIC_ACQUIRE);
}

/* 1 when the evidence deadline passed; it is then fired for good. */
static int
attest_due(void)
{
	int armed = STOP_ATTEST_ARMED;
	int due = 0;

	if (__atomic_load_n(&stop_attest_state, __ATOMIC_ACQUIRE) == armed &&
	    now_ns() >=
		__atomic_load_n(&stop_attest_deadline, __ATOMIC_ACQUIRE)) {
		due = __atomic_compare_exchange_n(
		    &stop_attest_state, &armed, STOP_ATTEST_FIRED, 0,
		    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
	}
	return due;
}

/* The next signal, or 0 once the evidence deadline has passed. */
static int
stop_wait(const sigset_t *set)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = STOP_POLL_NS};
	int sig = -1;

	while (sig < 0) {
		sig = sigtimedwait(set, NULL, &ts);
		if (sig < 0 && attest_due()) {
			sig = 0;
		}
	}
	return sig;
}

/*
 * Evidence did not come in time: fail closed now, since the call that
 * hangs (a driver, a TPM) cannot be interrupted.
 */
static void
attest_expired(void)
{
	const char *step = step_now();

	log_event(LOG_ERR, "init.attest.timeout", "evidence_timeout",
		  LOG_STR("step", step),
		  LOG_U64("attest_timeout_s", stop_attest_s));
	http_cancel_all();
	if (stop_hook != NULL) {
		stop_hook(stop_hook_arg);
	}
	log_event(LOG_ERR, "init.failed", sp_err_name(SP_E_ATTEST),
		  LOG_STR("cause", "evidence_timeout"), LOG_STR("step", step),
		  LOG_BOOL("forced", 1), LOG_I64("exit_code", EXIT_ATTEST));
	_exit(EXIT_ATTEST);
}

static void *
stop_main(void *arg)
{
	const char *cause;
	sigset_t set;
	int sig;

	(void)arg;
	stop_signals(&set);
	sig = stop_wait(&set);
	if (sig == 0) {
		attest_expired();
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
	cause = log_first_error();
	log_event(LOG_ERR, "init.failed", "terminated",
		  LOG_STR("cause", cause != NULL ? cause : "terminated"),
		  LOG_STR("step", step_now()), LOG_BOOL("forced", 1),
		  LOG_I64("exit_code", EXIT_TERMINATED));
	_exit(EXIT_TERMINATED);
	return NULL;
}

void
stop_note_step(const char *step)
{
	__atomic_store_n(&stop_step, step, __ATOMIC_RELEASE);
}

void
stop_attest_timeout(uint64_t seconds)
{
	stop_attest_s = seconds;
}

void
stop_attest_begin(void)
{
	uint64_t budget = stop_attest_s;
	uint64_t now = now_ns();

	/* Saturate: a deadline that wrapped would fire at once. */
	if (budget > (UINT64_MAX - now) / 1000000000ULL) {
		budget = (UINT64_MAX - now) / 1000000000ULL;
	}
	if (budget != 0) {
		__atomic_store_n(&stop_attest_deadline,
				 now + budget * 1000000000ULL,
				 __ATOMIC_RELEASE);
		__atomic_store_n(&stop_attest_state, STOP_ATTEST_ARMED,
				 __ATOMIC_RELEASE);
	}
}

int
stop_attest_end(void)
{
	int state = STOP_ATTEST_ARMED;
	unsigned i;
	int rc = 0;

	if (!__atomic_compare_exchange_n(&stop_attest_state, &state,
					 STOP_ATTEST_IDLE, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE) &&
	    state == STOP_ATTEST_FIRED) {
		/* The stop thread is ending the process: do nothing more. */
		for (i = 0; i < STOP_ATTEST_WAIT_S; i++) {
			sleep(1);
		}
		rc = -1;
	}
	return rc;
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
