/*
 * test_stop.c: SIGTERM/SIGINT handling of sealpod-init run
 * (init/stop.c). Each case runs in a child process, since the stop
 * thread and the signal mask are for the life of a process.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "exitcode.h"
#include "log.h"
#include "stop.h"
#include "util.h"

/* How long a child may take: the grace period plus slack. */
#define CHILD_MAX_S (STOP_GRACE_S + 5)

static char marker[] = "/tmp/test_stop.XXXXXX";

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

/* Wait (bounded) for pid; returns its wait status, or -1 on timeout. */
static int
child_wait(pid_t pid, double *secs)
{
	uint64_t t0 = now_ns();
	int status = -1;
	pid_t r;

	for (;;) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid) {
			break;
		}
		if (now_ns() - t0 > (uint64_t)CHILD_MAX_S * 1000000000ULL) {
			kill(pid, SIGKILL);
			(void)waitpid(pid, &status, 0);
			status = -1;
			break;
		}
		sleep_ms(20);
	}
	*secs = (double)(now_ns() - t0) / 1e9;
	return status;
}

/* Child: 0 when the flag turns on within two seconds of sig. */
static int
flag_after(int sig)
{
	int i;

	kill(getpid(), sig);
	for (i = 0; i < 100 && !stop_requested(); i++) {
		sleep_ms(20);
	}
	return stop_requested() && *stop_flag() == 1 ? 0 : 1;
}

static void
test_flag_on_sigterm(void **state)
{
	double secs = 0;
	pid_t pid;
	int st;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		_exit(stop_start(NULL, NULL) == 0 && !stop_requested()
			  ? flag_after(SIGTERM)
			  : 2);
	}
	st = child_wait(pid, &secs);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* A shell's background job starts with SIGINT ignored: taken anyway. */
static void
test_ignored_sigint_taken(void **state)
{
	double secs = 0;
	pid_t pid;
	int st;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		(void)signal(SIGINT, SIG_IGN);
		_exit(stop_start(NULL, NULL) == 0 ? flag_after(SIGINT) : 2);
	}
	st = child_wait(pid, &secs);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void
hook_touch(void *arg)
{
	int fd = open(arg, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd >= 0) {
		close(fd);
	}
}

/* Child: log JSON lines to path instead of stderr. */
static void
child_log(const char *path)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		_exit(6);
	}
	log_init("test_stop", f);
}

/* 1 when the file at path holds needle. */
static int
log_has(const char *path, const char *needle)
{
	char buf[8192];
	size_t n = 0;
	FILE *f = fopen(path, "r");
	int found;

	if (f != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	found = strstr(buf, needle) != NULL;
	if (!found) {
		print_message("want %s in:\n%s", needle, buf);
	}
	return found;
}

/* A run that never notices: after the grace period the stop thread
 * runs the hook and ends the process with EXIT_TERMINATED. */
static void
test_forced_after_grace(void **state)
{
	char logpath[sizeof(marker) + 16];
	char path[sizeof(marker) + 16];
	struct stat sb;
	double secs = 0;
	pid_t pid;
	int st;

	(void)state;
	snprintf(path, sizeof(path), "%s/hook", marker);
	snprintf(logpath, sizeof(logpath), "%s/log", marker);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		child_log(logpath);
		if (stop_start(hook_touch, path) != 0) {
			_exit(2);
		}
		stop_note_step("unseal");
		kill(getpid(), SIGTERM);
		/* Busy elsewhere; a second signal changes nothing. */
		sleep_ms(500);
		kill(getpid(), SIGTERM);
		sleep_ms((long)CHILD_MAX_S * 1000);
		_exit(3);
	}
	st = child_wait(pid, &secs);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), EXIT_TERMINATED);
	assert_true(secs >= STOP_GRACE_S - 0.5);
	assert_true(secs < STOP_GRACE_S + 3);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(unlink(path), 0);
	/* The forced event names the step it stopped in (h20 F8). */
	assert_true(log_has(logpath, "\"event\":\"init.failed\",\"reason\":"
				     "\"terminated\",\"cause\":\"terminated\","
				     "\"step\":\"unseal\",\"forced\":true"));
	assert_int_equal(unlink(logpath), 0);
}

/*
 * A hung evidence step: with no signal at all, the stop thread ends the
 * process with EXIT_ATTEST once attest_timeout_s has passed, after the
 * hook (h20 F9).
 */
static void
test_attest_deadline(void **state)
{
	char path[sizeof(marker) + 16];
	char logpath[sizeof(marker) + 16];
	struct stat sb;
	double secs = 0;
	pid_t pid;
	int st;

	(void)state;
	snprintf(path, sizeof(path), "%s/hook", marker);
	snprintf(logpath, sizeof(logpath), "%s/log", marker);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		child_log(logpath);
		if (stop_start(hook_touch, path) != 0) {
			_exit(2);
		}
		stop_note_step("attest");
		stop_attest_timeout(1);
		stop_attest_begin();
		sleep_ms((long)CHILD_MAX_S * 1000); /* a wedged driver */
		_exit(3);
	}
	st = child_wait(pid, &secs);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), EXIT_ATTEST);
	assert_true(secs >= 0.9);
	assert_true(secs < 3);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(unlink(path), 0);
	assert_true(log_has(logpath, "\"event\":\"init.attest.timeout\","
				     "\"reason\":\"evidence_timeout\","
				     "\"step\":\"attest\""));
	assert_true(log_has(logpath, "\"event\":\"init.failed\",\"reason\":"
				     "\"attestation\",\"cause\":"
				     "\"evidence_timeout\",\"step\":\"attest\","
				     "\"forced\":true,\"exit_code\":10"));
	assert_int_equal(unlink(logpath), 0);
}

/* Disarmed in time, the deadline never fires; 0 means no budget. */
static void
test_attest_disarmed(void **state)
{
	double secs = 0;
	pid_t pid;
	int st;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (stop_start(NULL, NULL) != 0) {
			_exit(2);
		}
		stop_attest_timeout(1);
		stop_attest_begin();
		sleep_ms(300);
		if (stop_attest_end() != 0) {
			_exit(4);
		}
		stop_attest_timeout(0);
		stop_attest_begin();
		sleep_ms(1800);
		_exit(stop_attest_end() == 0 ? 0 : 5);
	}
	st = child_wait(pid, &secs);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static int
setup(void **state)
{
	(void)state;
	log_init("test_stop", NULL);
	return mkdtemp(marker) == NULL;
}

static int
teardown(void **state)
{
	(void)state;
	return rmdir(marker);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_flag_on_sigterm),
	    cmocka_unit_test(test_ignored_sigint_taken),
	    cmocka_unit_test(test_forced_after_grace),
	    cmocka_unit_test(test_attest_deadline),
	    cmocka_unit_test(test_attest_disarmed),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
