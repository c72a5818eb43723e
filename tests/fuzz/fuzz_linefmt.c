/*
 * fuzz_linefmt.c: libFuzzer harness for src/linefmt.c, the line parser under
 * the hot-list and NS-table readers, checked against simple models.
 *
 * The input is cut into lines with a line limit taken from its first byte.
 * Checked: the lines handed out are the input's lines (no LF, no NUL, within
 * the limit) or the iterator stops with a reason; linefmt_split gives back
 * the line when its fields are joined with single spaces; linefmt_unsigned
 * agrees with a plain digit-by-digit model; linefmt_decimal accepts exactly
 * the strict syntax doc/nats.md gives, and then agrees with strtod.
 */
#include "config.h"

#include "fuzz.h"

#include "base/linefmt.h"

#include <math.h>
#include <string.h>

/* The model of linefmt_decimal's syntax: -?D+(.D+)?([eE][+-]?D+)? */
static int decimal_syntax(const char *s)
{
	const char *p = s;
	if (*p == '-')
		p++;
	const char *d = p;
	while (*p >= '0' && *p <= '9')
		p++;
	if (p == d)
		return 0;
	if (*p == '.') {
		d = ++p;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p == d)
			return 0;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		d = p;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p == d)
			return 0;
	}
	return *p == '\0';
}

static void check_field(const char *f)
{
	uint64_t u;
	double v;
	size_t n = strlen(f);
	int digits = n > 0 && strspn(f, "0123456789") == n;
	/* unsigned: digits only, and fits in 64 bits */
	int ru = linefmt_unsigned(f, UINT64_MAX, &u);
	if (digits) {
		const char *p = f;
		while (*p == '0' && p[1])
			p++;
		size_t sig = strlen(p);
		int fits = sig < 20 || (sig == 20 && strcmp(p, "18446744073709551615") <= 0);
		FUZZ_CHECK(ru == (fits ? 0 : -1), "unsigned '%s': %d", f, ru);
		if (ru == 0)
			FUZZ_CHECK(u == strtoull(f, NULL, 10), "unsigned '%s' read as %llu", f, (unsigned long long)u);
		uint64_t cap = 1000;
		if (ru == 0)
			FUZZ_CHECK(linefmt_unsigned(f, cap, &u) == (strtoull(f, NULL, 10) <= cap ? 0 : -1),
				   "unsigned '%s' against the limit", f);
	} else {
		FUZZ_CHECK(ru == -1, "unsigned accepted '%s'", f);
	}
	/* decimal: the strict syntax, finite, within bounds */
	int rd = linefmt_decimal(f, -1e300, 1e300, &v);
	if (!decimal_syntax(f)) {
		FUZZ_CHECK(rd == -1, "decimal accepted '%s'", f);
		return;
	}
	double w = strtod(f, NULL);
	int ok = isfinite(w) && w >= -1e300 && w <= 1e300;
	FUZZ_CHECK(rd == (ok ? 0 : -1), "decimal '%s': %d (strtod %g)", f, rd, w);
	if (rd == 0)
		FUZZ_CHECK(v == w, "decimal '%s' read as %.17g, strtod %.17g", f, v, w);
	if (rd == 0)
		/* with a minimum of 0, no sign at all: "-0" too */
		FUZZ_CHECK(linefmt_decimal(f, 0, 10, &v) == (f[0] != '-' && w >= 0 && w <= 10 ? 0 : -1),
			   "decimal '%s' in [0,10]", f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t buf_size = (size_t)data[0] + 1; /* lines of up to data[0] octets */
	const char *text = (const char *)data + 1;
	size_t len = size - 1, pos = 0;
	char *buf = malloc(buf_size), *line, err[128];
	size_t l;
	struct linefmt lf;
	int r;
	FUZZ_CHECK(buf != NULL, "out of memory");
	linefmt_init(&lf, text, len);
	while ((r = linefmt_next(&lf, buf, buf_size, &line, &l, err, sizeof(err))) > 0) {
		/* the model: the input's next line */
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t ml = nl ? (size_t)(nl - (text + pos)) : len - pos;
		FUZZ_CHECK(l == ml && memcmp(line, text + pos, l) == 0 && line[l] == '\0' && l < buf_size &&
				   !memchr(line, '\0', l),
			   "line %zu: %zu octets, the input has %zu", lf.lineno, l, ml);
		pos += ml + (nl ? 1 : 0);

		char copy[257], *fields[8];
		memcpy(copy, line, l + 1);
		int nf = linefmt_split(line, fields, 8);
		if (nf > 0) {
			char joined[257] = "";
			size_t o = 0;
			for (int i = 0; i < nf; i++) {
				size_t fl = strlen(fields[i]);
				FUZZ_CHECK(fl > 0 && !strchr(fields[i], ' '), "field %d of '%s' is '%s'", i, copy, fields[i]);
				if (i)
					joined[o++] = ' ';
				memcpy(joined + o, fields[i], fl);
				o += fl;
				check_field(fields[i]);
				const char *v = linefmt_value(fields[i], "k");
				FUZZ_CHECK(v == NULL || (fields[i][0] == 'k' && fields[i][1] == '=' && v == fields[i] + 2),
					   "value of '%s'", fields[i]);
			}
			joined[o] = '\0';
			FUZZ_CHECK(strcmp(joined, copy) == 0, "split '%s' into fields joined as '%s'", copy, joined);
		} else {
			FUZZ_CHECK(nf == -1 && (l == 0 || copy[0] == ' ' || copy[l - 1] == ' ' || strstr(copy, "  ") ||
						 strchr(copy, ' ')),
				   "split refused '%s'", copy);
		}
	}
	if (r < 0) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t ml = nl ? (size_t)(nl - (text + pos)) : len - pos;
		FUZZ_CHECK(ml > buf_size - 1 || memchr(text + pos, '\0', ml), "stopped at line %zu: %s", lf.lineno, err);
	} else {
		FUZZ_CHECK(pos == len, "ended at %zu of %zu", pos, len);
	}
	free(buf);
	return 0;
}
