/*
 * test_tlsctx.c: the socket BIO under the sidecar's TLS connections
 * (tlsctx_sock_bio), over a real TCP connection on 127.0.0.1.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "tlsctx.h"

/* How long a test waits for bytes that must arrive (ms). */
#define WAIT_MS 2000

/* A connected TCP pair on loopback: fds[0] (ours, non-blocking), fds[1]. */
static void
tcp_pair(int fds[2])
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int one = 1;
	int l;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &len), 0);
	fds[1] = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(fds[1], (struct sockaddr *)&sa, sizeof(sa)),
			 0);
	fds[0] = accept(l, NULL, NULL);
	assert_true(fds[0] >= 0);
	close(l);
	assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(
	    setsockopt(fds[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
}

/* Read exactly n bytes from fd within WAIT_MS; returns bytes read. */
static size_t
read_within(int fd, char *buf, size_t n)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	size_t got = 0;
	ssize_t r;

	while (got < n && poll(&p, 1, WAIT_MS) == 1) {
		r = recv(fd, buf + got, n - got, 0);
		if (r <= 0) {
			break;
		}
		got += (size_t)r;
	}
	return got;
}

/* 1 when fd becomes readable within WAIT_MS. */
static int
wait_readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, WAIT_MS) == 1;
}

static void
test_more_then_last(void **state)
{
	struct tlsctx_sock sk = {0};
	char buf[16];
	int fds[2];
	BIO *b;

	(void)state;
	tcp_pair(fds);
	sk.fd = fds[0];
	b = tlsctx_sock_bio(&sk);
	assert_non_null(b);

	/* Held back while more is set, out with the burst's last write. */
	sk.more = 1;
	assert_int_equal(BIO_write(b, "abc", 3), 3);
	assert_int_equal(sk.held, 1);
	sk.more = 0;
	assert_int_equal(BIO_write(b, "def", 3), 3);
	assert_int_equal(sk.held, 0);
	assert_int_equal(read_within(fds[1], buf, 6), 6);
	assert_memory_equal(buf, "abcdef", 6);

	/* A held write is pushed by tlsctx_sock_push() and by a flush. */
	sk.more = 1;
	assert_int_equal(BIO_write(b, "ghi", 3), 3);
	tlsctx_sock_push(&sk);
	assert_int_equal(sk.held, 0);
	assert_int_equal(read_within(fds[1], buf, 3), 3);
	assert_memory_equal(buf, "ghi", 3);
	assert_int_equal(BIO_write(b, "jkl", 3), 3);
	assert_int_equal(BIO_flush(b), 1);
	assert_int_equal(sk.held, 0);
	assert_int_equal(read_within(fds[1], buf, 3), 3);
	assert_memory_equal(buf, "jkl", 3);

	BIO_free(b);
	close(fds[0]);
	close(fds[1]);
}

static void
test_read_retry_and_eof(void **state)
{
	struct tlsctx_sock sk = {0};
	char buf[16];
	int fds[2];
	BIO *b;

	(void)state;
	tcp_pair(fds);
	sk.fd = fds[0];
	b = tlsctx_sock_bio(&sk);
	assert_non_null(b);

	/* Nothing there yet: a retry, not an end. */
	assert_true(BIO_read(b, buf, sizeof(buf)) < 0);
	assert_true(BIO_should_retry(b));
	assert_true(BIO_should_read(b));
	assert_int_equal(BIO_eof(b), 0);

	assert_int_equal(send(fds[1], "xy", 2, 0), 2);
	assert_true(wait_readable(fds[0]));
	assert_int_equal(BIO_read(b, buf, sizeof(buf)), 2);
	assert_memory_equal(buf, "xy", 2);

	/*
	 * That read was short, so the socket was empty: until the owner
	 * clears drained (its next input event), reads say retry without
	 * a recv(), even though bytes have arrived meanwhile.
	 */
	assert_int_equal(sk.drained, 1);
	assert_int_equal(send(fds[1], "z", 1, 0), 1);
	assert_true(wait_readable(fds[0]));
	assert_true(BIO_read(b, buf, sizeof(buf)) < 0);
	assert_true(BIO_should_retry(b));
	sk.drained = 0;
	assert_int_equal(BIO_read(b, buf, sizeof(buf)), 1);
	assert_memory_equal(buf, "z", 1);

	/* The peer closes: 0, no retry, and BIO_eof() says so. */
	close(fds[1]);
	assert_true(wait_readable(fds[0]));
	sk.drained = 0;
	assert_int_equal(BIO_read(b, buf, sizeof(buf)), 0);
	assert_false(BIO_should_retry(b));
	assert_int_equal(BIO_eof(b), 1);
	assert_int_equal(sk.eof, 1);

	BIO_free(b);
	close(fds[0]);
}

/* BIO_get_fd (what SSL_get_fd asks) gives the socket, not 0. */
static void
test_get_fd(void **state)
{
	struct tlsctx_sock sk = {0};
	int fds[2];
	int got = -2;
	BIO *b;

	(void)state;
	tcp_pair(fds);
	sk.fd = fds[0];
	b = tlsctx_sock_bio(&sk);
	assert_non_null(b);
	assert_int_equal(BIO_get_fd(b, &got), fds[0]);
	assert_int_equal(got, fds[0]);
	BIO_free(b);
	close(fds[0]);
	close(fds[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_more_then_last),
	    cmocka_unit_test(test_read_retry_and_eof),
	    cmocka_unit_test(test_get_fd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
