/*
 * peer_spawn.h: start one of the test peers in tests/peers/ (plain HTTP
 * on 127.0.0.1) from a unit test, wait for its port file, stop it.
 * Header-only, for the test executables that talk to a stand-in.
 */
#ifndef SEALPOD_PEER_SPAWN_H
#define SEALPOD_PEER_SPAWN_H

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PEER_WAIT_MS	 30000
#define PEER_MAX_SECONDS "240"
#define PEER_ARGS_MAX	 32
#define PEER_LIVE_MAX	 8
#define PEER_POLL_MS	 5000

/* Every peer started and not yet stopped, for peer_stop_all(). */
static pid_t peer_live[PEER_LIVE_MAX];

struct peer {
	pid_t pid;
	int port;
	char port_file[512];
	char log[512];
};

/*
 * Run /usr/bin/python3 tests/peers/<script> with the common options and
 * args (NULL-terminated) in dir. Returns 0 with p filled, or -1.
 */
static inline int
peer_start(struct peer *p, const char *dir, const char *script,
	   const char *const *args)
{
	const char *argv[PEER_ARGS_MAX + 12];
	char path[512];
	FILE *f = NULL;
	size_t n = 0;
	size_t i;
	int waited;

	memset(p, 0, sizeof(*p));
	snprintf(path, sizeof(path), "%s/tests/peers/%s", SEALPOD_SRCDIR,
		 script);
	snprintf(p->port_file, sizeof(p->port_file), "%s/%s.port", dir, script);
	snprintf(p->log, sizeof(p->log), "%s/%s.log", dir, script);
	(void)unlink(p->port_file);
	argv[n++] = "/usr/bin/python3";
	argv[n++] = path;
	argv[n++] = "--port-file";
	argv[n++] = p->port_file;
	argv[n++] = "--max-seconds";
	argv[n++] = PEER_MAX_SECONDS;
	argv[n++] = "--log";
	argv[n++] = p->log;
	for (i = 0; args[i] != NULL && i < PEER_ARGS_MAX; i++) {
		argv[n++] = args[i];
	}
	argv[n] = NULL;

	p->pid = fork();
	if (p->pid == 0) {
		/* Not our stdout: ctest waits for every holder of its pipes. */
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (i = 0; p->pid > 0 && i < PEER_LIVE_MAX; i++) {
		if (peer_live[i] == 0) {
			peer_live[i] = p->pid;
			break;
		}
	}
	if (p->pid < 0) {
		return -1;
	}
	for (waited = 0; waited < PEER_WAIT_MS && f == NULL; waited += 50) {
		f = fopen(p->port_file, "r");
		if (f == NULL) {
			usleep(50 * 1000);
		}
	}
	if (f == NULL || fscanf(f, "%d", &p->port) != 1) {
		if (f != NULL) {
			fclose(f);
		}
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		p->pid = -1;
		return -1;
	}
	fclose(f);
	return 0;
}

static inline void
peer_kill(pid_t pid)
{
	size_t i;

	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	for (i = 0; i < PEER_LIVE_MAX; i++) {
		if (peer_live[i] == pid) {
			peer_live[i] = 0;
		}
	}
}

static inline void
peer_stop(struct peer *p)
{
	if (p->pid > 0) {
		peer_kill(p->pid);
		p->pid = -1;
	}
}

/* For a group teardown: a failed assertion skips a test's peer_stop. */
static inline void
peer_stop_all(void)
{
	size_t i;

	for (i = 0; i < PEER_LIVE_MAX; i++) {
		if (peer_live[i] > 0) {
			peer_kill(peer_live[i]);
		}
	}
}

/*
 * Lines of the peer's log containing both needles (b may be NULL). A
 * peer logs a request after its reply, so callers that expect a count
 * use peer_log_wait().
 */
static inline int
peer_log_count(const struct peer *p, const char *a, const char *b)
{
	char line[8192];
	FILE *f = fopen(p->log, "r");
	int n = 0;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, a) != NULL && (b == NULL || strstr(line, b))) {
			n++;
		}
	}
	if (f != NULL) {
		fclose(f);
	}
	return n;
}

/* Poll (at most PEER_POLL_MS) until the count reaches want; the count. */
static inline int
peer_log_wait(const struct peer *p, const char *a, const char *b, int want)
{
	int n = peer_log_count(p, a, b);
	int waited;

	for (waited = 0; n < want && waited < PEER_POLL_MS; waited += 20) {
		usleep(20 * 1000);
		n = peer_log_count(p, a, b);
	}
	return n;
}

#endif
