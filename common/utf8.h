/*
 * utf8.h: strict UTF-8 decoding shared by the log writer, the JSON writer
 * and the config loader.
 */
#ifndef SEALPOD_UTF8_H
#define SEALPOD_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Decode one code point from the n > 0 bytes at s. Returns the number of
 * bytes it takes (1..4) and sets *cp, or 0 when the sequence is invalid
 * (bad lead byte, truncated, overlong, surrogate or above U+10FFFF); the
 * caller then skips one byte.
 */
size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* 1 when the n bytes at s are entirely valid UTF-8, else 0. */
int utf8_valid(const unsigned char *s, size_t n);

#endif
