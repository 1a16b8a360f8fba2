/*
 * le.h: little-endian loads and stores for the binary evidence formats
 * (TDX quotes, SNP reports, TCG event logs are all little-endian).
 *
 * Callers check bounds first; these only assemble bytes, so they are
 * safe on unaligned input and independent of the host's byte order.
 */
#ifndef SEALPOD_ATTEST_LE_H
#define SEALPOD_ATTEST_LE_H

#include <stdint.h>

static inline uint16_t
le_get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static inline uint32_t
le_get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t
le_get64(const unsigned char *p)
{
	return (uint64_t)le_get32(p) | (uint64_t)le_get32(p + 4) << 32;
}

static inline void
le_put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static inline void
le_put64(unsigned char *p, uint64_t v)
{
	le_put32(p, (uint32_t)v);
	le_put32(p + 4, (uint32_t)(v >> 32));
}

#endif
