/*
 * listen.h - the address a TCP server of memwatchd listens on, as the
 * settings spell it (--metrics-listen). Parsing only, no socket: the
 * settings check an address without starting the server that uses it.
 */
#ifndef MEMWATCH_LISTEN_H
#define MEMWATCH_LISTEN_H

#include <sys/socket.h>

/*
 * ADDR:PORT, ADDR an IPv4 literal, "localhost" or a bracketed IPv6
 * literal ("[::1]:19464"), PORT 1 to 65535. Fills ss and len; 0 or
 * -EINVAL.
 */
int listen__parse(const char *s, struct sockaddr_storage *ss, socklen_t *len);

#endif
