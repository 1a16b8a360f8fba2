/*
 * control.c: signals, ticks and the health port on the main thread.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "control.h"
#include "health.h"
#include "log.h"
#include "loop.h"
#include "reload.h"
#include "server.h"
#include "tickets.h"
#include "util.h"

#define CONTROL_TICK_NS	  (100ull * 1000 * 1000)
#define CONTROL_MARKER_NS (1000ull * 1000 * 1000)
#define CONTROL_EVENTS	  32
#define SEC_NS		  1000000000ull

enum control_role { CR_SIGNAL, CR_TICK };

struct control {
	struct server *srv;
	struct health health;
	int epfd;
	int sigfd;
	int tickfd;
	struct pollsrc sig_src;
	struct pollsrc tick_src;
	uint64_t now;
	uint64_t next_marker;
	uint64_t close_at;	    /* stop accepting at (draining) */
	uint64_t give_up_at;	    /* close everything at (draining) */
	struct reload_watch reload; /* certificate files, polled */
	int done;
};

static void
begin_drain(struct control *ct)
{
	struct server *srv = ct->srv;
	const struct sidecar_config *cfg = srv->cfg;

	atomic_store(&srv->draining, 1);
	atomic_store(&srv->g.draining, 1);
	ct->close_at = ct->now + cfg->drain_delay_s * SEC_NS;
	ct->give_up_at = ct->close_at + cfg->drain_s * SEC_NS;
	log_event(LOG_INFO, "sidecar.draining", NULL,
		  LOG_U64("drain_delay_s", cfg->drain_delay_s),
		  LOG_U64("drain_s", cfg->drain_s),
		  LOG_U64("connections", atomic_load(&srv->g.conns_open)));
}

static void
stop_now(struct control *ct, const char *why)
{
	struct server *srv = ct->srv;

	if (!atomic_load(&srv->stopping)) {
		log_event(
		    LOG_WARN, "sidecar.drain.cut", why,
		    LOG_U64("connections", atomic_load(&srv->g.conns_open)));
		atomic_store(&srv->closing, 1);
		atomic_store(&srv->stopping, 1);
		loop_wake(srv);
	}
}

static void
on_signal(struct control *ct)
{
	struct signalfd_siginfo si;
	enum sp_err rc;

	while (read(ct->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			rc = reload_signal(&ct->reload, ct->srv);
			(void)rc; /* logged and counted; the old one stays */
		} else if (!atomic_load(&ct->srv->draining)) {
			begin_drain(ct);
		} else {
			stop_now(ct, "second_signal");
		}
	}
}

static void
on_tick(struct control *ct)
{
	struct server *srv = ct->srv;
	uint64_t expirations;

	if (read(ct->tickfd, &expirations, sizeof(expirations)) < 0) {
		/* Spurious wake-up; the clock below is what counts. */
	}
	if (ct->now >= ct->next_marker) {
		server_marker_refresh(srv);
		ct->next_marker = ct->now + CONTROL_MARKER_NS;
	}
	health_sweep(&ct->health, ct->now);
	reload_watch_poll(&ct->reload, srv, ct->now);
	/* Wipe ticket keys past their period even with no handshakes. */
	(void)tickets_rotate(srv->tickets);
	if (!atomic_load(&srv->draining)) {
		goto out;
	}
	if (!atomic_load(&srv->closing) && ct->now >= ct->close_at) {
		atomic_store(&srv->closing, 1);
		loop_wake(srv);
	}
	if (ct->now >= ct->give_up_at) {
		stop_now(ct, "drain_timeout");
	}
	if (atomic_load(&srv->closing) && loop_running(srv) == 0) {
		ct->done = 1;
	}
out:
	return;
}

static int
watch(int epfd, int fd, struct pollsrc *src)
{
	struct epoll_event ev = {0};

	ev.events = EPOLLIN;
	ev.data.ptr = src;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static enum sp_err
control_open(struct control *ct, struct server *srv)
{
	struct itimerspec its = {{0, (long)CONTROL_TICK_NS},
				 {0, (long)CONTROL_TICK_NS}};
	sigset_t set;
	enum sp_err rc = SP_E_INTERNAL;

	memset(ct, 0, sizeof(*ct));
	ct->srv = srv;
	ct->sig_src.kind = POLLSRC_CONTROL;
	ct->sig_src.role = CR_SIGNAL;
	ct->tick_src.kind = POLLSRC_CONTROL;
	ct->tick_src.role = CR_TICK;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	ct->epfd = epoll_create1(EPOLL_CLOEXEC);
	ct->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	ct->tickfd =
	    timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (ct->epfd < 0 || ct->sigfd < 0 || ct->tickfd < 0 ||
	    timerfd_settime(ct->tickfd, 0, &its, NULL) != 0 ||
	    watch(ct->epfd, ct->sigfd, &ct->sig_src) != 0 ||
	    watch(ct->epfd, ct->tickfd, &ct->tick_src) != 0) {
		log_event(LOG_ERR, "control.init.failed", "internal",
			  LOG_ERRNO(errno));
		goto out;
	}
	reload_watch_init(&ct->reload, srv, now_ns());
	rc = health_init(&ct->health, srv, ct->epfd);
out:
	return rc;
}

static void
control_close(struct control *ct)
{
	health_free(&ct->health);
	if (ct->tickfd >= 0) {
		close(ct->tickfd);
	}
	if (ct->sigfd >= 0) {
		close(ct->sigfd);
	}
	if (ct->epfd >= 0) {
		close(ct->epfd);
	}
}

enum sp_err
control_run(struct server *srv)
{
	struct control ct;
	struct epoll_event evs[CONTROL_EVENTS];
	struct pollsrc *src;
	int n;
	int i;
	enum sp_err rc;

	rc = control_open(&ct, srv);
	while (rc == SP_OK && !ct.done) {
		n = epoll_wait(ct.epfd, evs, CONTROL_EVENTS, -1);
		ct.now = now_ns();
		for (i = 0; i < n; i++) {
			src = evs[i].data.ptr;
			if (src->kind == POLLSRC_HEALTH) {
				health_event(&ct.health, src, evs[i].events,
					     ct.now);
			} else if (src->role == CR_SIGNAL) {
				on_signal(&ct);
			} else {
				on_tick(&ct);
			}
		}
		/* Only now: a later event of the batch may name one of them. */
		health_reap(&ct.health);
	}
	control_close(&ct);
	return rc;
}
