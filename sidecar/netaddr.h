/*
 * netaddr.h: "host:port" strings to socket addresses and back.
 *
 * Only numeric addresses are accepted (plus "localhost" for 127.0.0.1):
 * the sidecar never resolves names, so its addresses cannot change under
 * it and it needs no DNS.
 */
#ifndef SEALPOD_NETADDR_H
#define SEALPOD_NETADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest "[v6]:port" string, NUL included. */
#define NETADDR_STR_MAX 64

struct netaddr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/*
 * Parse "1.2.3.4:443", "[::1]:443", "localhost:443" or ":443" (all IPv4
 * addresses) into out. Port 0 is accepted (the kernel picks one). Returns
 * 0, or -1 for anything else.
 */
int netaddr_parse(const char *s, struct netaddr *out);

/* 1 when a is in 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104. */
int netaddr_is_loopback(const struct netaddr *a);

/*
 * The address part of sa as text (IPv4-mapped IPv6 shown as IPv4) into
 * out (NETADDR_STR_MAX bytes). "?" when sa is of an unknown family.
 */
void netaddr_ip(const struct sockaddr *sa, char *out, size_t cap);

/*
 * Start a non-blocking, close-on-exec TCP connection to a, with Nagle
 * off (streamed tokens must not wait for a full segment). Returns the
 * socket and sets *done to 1 when already connected, 0 when the connect
 * is in progress (wait for writability); or -1 with errno set.
 */
int netaddr_connect(const struct netaddr *a, int *done);

/* The outcome of a connect started by netaddr_connect: 0 or an errno. */
int netaddr_connect_result(int fd);

/* The port of sa in host order, 0 for an unknown family. */
uint16_t netaddr_port(const struct sockaddr *sa);

#endif
