/* linefmt.c: the hostile-text line parser; see linefmt.h */
#include "config.h"

#include "base/linefmt.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int linefmt_fail(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;
	if (err && err_size) {
		va_start(ap, fmt);
		vsnprintf(err, err_size, fmt, ap);
		va_end(ap);
	}
	return -1;
}

void linefmt_init(struct linefmt *lf, const char *data, size_t len)
{
	lf->data = data;
	lf->len = data ? len : 0;
	lf->pos = 0;
	lf->lineno = 0;
}

int linefmt_next(struct linefmt *lf, char *buf, size_t buf_size, char **line, size_t *line_len,
		 char *err, size_t err_size)
{
	if (lf->pos >= lf->len)
		return 0;
	const char *start = lf->data + lf->pos;
	size_t rest = lf->len - lf->pos;
	const char *nl = memchr(start, '\n', rest);
	size_t l = nl ? (size_t)(nl - start) : rest;
	lf->lineno++;
	if (buf_size == 0 || l > buf_size - 1)
		return linefmt_fail(err, err_size, "line %zu too long", lf->lineno);
	if (memchr(start, '\0', l))
		return linefmt_fail(err, err_size, "NUL byte on line %zu", lf->lineno);
	memcpy(buf, start, l);
	buf[l] = '\0';
	lf->pos += l + (nl ? 1 : 0);
	*line = buf;
	*line_len = l;
	return 1;
}

int linefmt_split(char *line, char **fields, int max)
{
	int n = 0;
	char *p = line;
	for (;;) {
		char *sp = strchr(p, ' ');
		if (n == max || (sp ? sp == p : *p == '\0'))
			return -1;
		fields[n++] = p;
		if (!sp)
			return n;
		*sp = '\0';
		p = sp + 1;
	}
}

const char *linefmt_value(const char *field, const char *key)
{
	size_t kl = strlen(key);
	if (strncmp(field, key, kl) != 0 || field[kl] != '=')
		return NULL;
	return field + kl + 1;
}

static const char *digits(const char *p)
{
	const char *s = p;
	while (*p >= '0' && *p <= '9')
		p++;
	return p == s ? NULL : p;
}

int linefmt_decimal(const char *s, double min, double max, double *out)
{
	const char *p = s;
	/* a sign only where negative values are allowed: never "-0" for a count */
	if (*p == '-' && min < 0)
		p++;
	if (!(p = digits(p)))
		return -1;
	if (*p == '.' && !(p = digits(p + 1)))
		return -1;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '-' || *p == '+')
			p++;
		if (!(p = digits(p)))
			return -1;
	}
	if (*p != '\0')
		return -1;
	/* the syntax is checked: strtod sees nothing it could read otherwise */
	char *end;
	double v = strtod(s, &end);
	if (*end || !isfinite(v) || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int linefmt_unsigned(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}
