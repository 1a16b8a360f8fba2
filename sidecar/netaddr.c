/*
 * netaddr.c: numeric socket addresses.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netaddr.h"
#include "util.h"

/* Split s into host (brackets removed) and port. Returns 0 or -1. */
static int
split_host_port(const char *s, char *host, size_t hcap, const char **port)
{
	const char *colon;
	const char *h = s;
	size_t hlen;
	int rc = -1;

	if (s[0] == '[') {
		colon = strchr(s, ']');
		if (colon == NULL || colon[1] != ':') {
			goto out;
		}
		h = s + 1;
		hlen = (size_t)(colon - h);
		colon++;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s))) {
			goto out;
		}
		hlen = (size_t)(colon - s);
	}
	if (hlen >= hcap) {
		goto out;
	}

	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = colon + 1;
	rc = 0;
out:
	return rc;
}

int
netaddr_parse(const char *s, struct netaddr *out)
{
	struct addrinfo hints = {0};
	struct addrinfo *res = NULL;
	char host[NETADDR_STR_MAX];
	const char *port;
	uint64_t portnum;
	int rc = -1;

	if (s == NULL || split_host_port(s, host, sizeof(host), &port) != 0 ||
	    strlen(port) > 5 || parse_u64(port, 0, 65535, &portnum) != 0) {
		goto out;
	}
	if (strcmp(host, "localhost") == 0) {
		snprintf(host, sizeof(host), "127.0.0.1");
	} else if (host[0] == '\0') {
		snprintf(host, sizeof(host), "0.0.0.0");
	}

	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL ||
	    res->ai_addrlen > sizeof(out->ss)) {
		goto out;
	}

	memset(out, 0, sizeof(*out));
	memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
	out->len = res->ai_addrlen;
	rc = 0;
out:
	if (res != NULL) {
		freeaddrinfo(res);
	}
	return rc;
}

int
netaddr_is_loopback(const struct netaddr *a)
{
	const struct sockaddr_in *v4 = (const struct sockaddr_in *)&a->ss;
	const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&a->ss;
	const uint8_t *b = v6->sin6_addr.s6_addr;
	int yes = 0;

	if (a->ss.ss_family == AF_INET) {
		yes = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
	} else if (a->ss.ss_family == AF_INET6) {
		yes = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr) ||
		      (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr) && b[12] == 127);
	}
	return yes;
}

void
netaddr_ip(const struct sockaddr *sa, char *out, size_t cap)
{
	const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)sa;
	const void *src = NULL;
	int family = sa->sa_family;

	if (family == AF_INET) {
		src = &v4->sin_addr;
	} else if (family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
		family = AF_INET;
		src = &v6->sin6_addr.s6_addr[12];
	} else if (family == AF_INET6) {
		src = &v6->sin6_addr;
	}
	if (src == NULL ||
	    inet_ntop(family, src, out, (socklen_t)cap) == NULL) {
		snprintf(out, cap, "?");
	}
}

uint16_t
netaddr_port(const struct sockaddr *sa)
{
	uint16_t port = 0;

	if (sa->sa_family == AF_INET) {
		port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	}
	return port;
}

int
netaddr_connect(const struct netaddr *a, int *done)
{
	int one = 1;
	int fd;
	int e;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		goto out;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*done = connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0;
	if (!*done && errno != EINPROGRESS) {
		e = errno;
		close(fd);
		errno = e;
		fd = -1;
	}
out:
	return fd;
}

int
netaddr_connect_result(int fd)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
		err = errno;
	}
	return err;
}
