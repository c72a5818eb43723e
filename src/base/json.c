/* json.c: the one JSON writer; see json.h */
#include "config.h"

#include "base/json.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

void json_init(struct json *j, char *buf, size_t size)
{
	memset(j, 0, sizeof(*j));
	j->buf = buf;
	j->size = size;
	if (size)
		buf[0] = '\0';
	else
		j->overflow = 1;
}

static void put(struct json *j, const char *s, size_t n)
{
	if (j->overflow)
		return;
	/* keep one byte for the terminator */
	if (j->len + n + 1 > j->size) {
		j->overflow = 1;
		return;
	}
	memcpy(j->buf + j->len, s, n);
	j->len += n;
}

static void putc1(struct json *j, char c)
{
	put(j, &c, 1);
}

/* Before a value or a key: the comma that separates it from the one before */
static void sep(struct json *j)
{
	if (j->after_key) {
		j->after_key = 0;
		return;
	}
	if (j->depth == 0)
		return;
	uint32_t bit = 1u << (j->depth - 1);
	if (j->has_items & bit)
		putc1(j, ',');
	j->has_items |= bit;
}

static void open_level(struct json *j, char c)
{
	sep(j);
	putc1(j, c);
	if (j->depth >= JSON_MAX_DEPTH) {
		j->overflow = 1;
		return;
	}
	j->depth++;
	j->has_items &= ~(1u << (j->depth - 1));
}

static void close_level(struct json *j, char c)
{
	if (j->depth == 0 || j->after_key) {
		j->overflow = 1;
		return;
	}
	j->depth--;
	putc1(j, c);
}

void json_obj_begin(struct json *j)
{
	open_level(j, '{');
}

void json_obj_end(struct json *j)
{
	close_level(j, '}');
}

void json_arr_begin(struct json *j)
{
	open_level(j, '[');
}

void json_arr_end(struct json *j)
{
	close_level(j, ']');
}

/* The escaped form of one byte into e (at most 6 bytes); returns its length */
static size_t escape_byte(unsigned char c, char e[6])
{
	static const char hex[] = "0123456789abcdef";
	if (c == '"' || c == '\\') {
		e[0] = '\\';
		e[1] = (char)c;
		return 2;
	}
	if (c < 0x20 || c >= 0x7f) {
		memcpy(e, "\\u00", 4);
		e[4] = hex[c >> 4];
		e[5] = hex[c & 15];
		return 6;
	}
	e[0] = (char)c;
	return 1;
}

static void put_escaped(struct json *j, const char *s, size_t n)
{
	char e[6];
	putc1(j, '"');
	for (size_t i = 0; i < n; i++)
		put(j, e, escape_byte((unsigned char)s[i], e));
	putc1(j, '"');
}

void json_key(struct json *j, const char *key)
{
	sep(j);
	put_escaped(j, key, strlen(key));
	putc1(j, ':');
	j->after_key = 1;
}

void json_strn(struct json *j, const char *s, size_t n)
{
	sep(j);
	put_escaped(j, s, n);
}

void json_str(struct json *j, const char *s)
{
	json_strn(j, s ? s : "", s ? strlen(s) : 0);
}

void json_u64(struct json *j, uint64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%" PRIu64, v);
	sep(j);
	put(j, b, (size_t)n);
}

void json_i64(struct json *j, int64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%" PRId64, v);
	sep(j);
	put(j, b, (size_t)n);
}

void json_num(struct json *j, double v, int decimals)
{
	char b[64];
	if (!isfinite(v)) {
		json_null(j);
		return;
	}
	if (decimals < 0)
		decimals = 0;
	if (decimals > 9)
		decimals = 9;
	int n = snprintf(b, sizeof(b), "%.*f", decimals, v);
	if (n <= 0 || (size_t)n >= sizeof(b)) {
		/* beyond 1e50 or so: the shortest exact form instead */
		n = snprintf(b, sizeof(b), "%.17g", v);
	}
	/* "-0.000" is valid JSON, but say 0 */
	if (v == 0)
		n = snprintf(b, sizeof(b), "%.*f", decimals, 0.0);
	sep(j);
	put(j, b, (size_t)n);
}

void json_bool(struct json *j, int v)
{
	sep(j);
	if (v)
		put(j, "true", 4);
	else
		put(j, "false", 5);
}

void json_null(struct json *j)
{
	sep(j);
	put(j, "null", 4);
}

void json_kstr(struct json *j, const char *key, const char *s)
{
	json_key(j, key);
	json_str(j, s);
}

void json_ku64(struct json *j, const char *key, uint64_t v)
{
	json_key(j, key);
	json_u64(j, v);
}

void json_ki64(struct json *j, const char *key, int64_t v)
{
	json_key(j, key);
	json_i64(j, v);
}

void json_knum(struct json *j, const char *key, double v, int decimals)
{
	json_key(j, key);
	json_num(j, v, decimals);
}

void json_kbool(struct json *j, const char *key, int v)
{
	json_key(j, key);
	json_bool(j, v);
}

int json_finish(struct json *j)
{
	if (j->overflow || j->depth != 0 || j->after_key) {
		if (j->size)
			j->buf[0] = '\0';
		return -1;
	}
	j->buf[j->len] = '\0';
	return (int)j->len;
}

int json_print(struct json *j, FILE *out)
{
	int n = json_finish(j);
	if (n < 0)
		return -1;
	if (fwrite(j->buf, 1, (size_t)n, out) != (size_t)n || fputc('\n', out) == EOF)
		return -1;
	return 0;
}

void json_escape(char *out, size_t out_size, const char *s)
{
	size_t o = 0;
	if (out_size == 0)
		return;
	for (; *s; s++) {
		char e[6];
		size_t n = escape_byte((unsigned char)*s, e);
		if (o + n >= out_size)
			break;
		memcpy(out + o, e, n);
		o += n;
	}
	out[o] = '\0';
}
