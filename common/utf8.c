/*
 * utf8.c: strict UTF-8 decoding (RFC 3629).
 */
#include "utf8.h"

/* Shortest code point that needs a sequence of each length (overlongs). */
static const uint32_t utf8_min[5] = {0, 0, 0x80, 0x800, 0x10000};

static size_t
utf8_seq_len(unsigned char lead, uint32_t *bits)
{
	size_t len = 0;

	if (lead < 0x80) {
		*bits = lead;
		len = 1;
	} else if ((lead & 0xe0) == 0xc0) {
		*bits = lead & 0x1f;
		len = 2;
	} else if ((lead & 0xf0) == 0xe0) {
		*bits = lead & 0x0f;
		len = 3;
	} else if ((lead & 0xf8) == 0xf0) {
		*bits = lead & 0x07;
		len = 4;
	}
	return len;
}

size_t
utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t v = 0;
	size_t len;
	size_t i;
	size_t rc = 0;

	len = utf8_seq_len(s[0], &v);
	if (len == 0 || len > n) {
		goto out;
	}

	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			goto out;
		}
		v = (v << 6) | (s[i] & 0x3f);
	}

	if (v < utf8_min[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
		goto out;
	}
	*cp = v;
	rc = len;
out:
	return rc;
}

int
utf8_valid(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t i = 0;
	size_t step;
	int rc = 0;

	while (i < n) {
		step = utf8_decode(s + i, n - i, &cp);
		if (step == 0) {
			goto out;
		}
		i += step;
	}
	rc = 1;
out:
	return rc;
}
