/*
 * fuzz_json.h: a strict JSON validator (RFC 8259) for the harnesses that
 * check what our JSON writer printed: one value, nothing after it, no
 * inf/nan/bare words, strings with valid escapes and no raw control bytes.
 * Returns 1 for a valid text, 0 otherwise.
 */
#ifndef RECMESH_FUZZ_JSON_H
#define RECMESH_FUZZ_JSON_H

#include <string.h>

static int fj_value(const char **p, int depth);

static void fj_ws(const char **p)
{
	while (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r')
		(*p)++;
}

static int fj_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int fj_string(const char **p)
{
	const char *s = *p;
	if (*s++ != '"')
		return 0;
	for (;;) {
		unsigned char c = (unsigned char)*s++;
		if (c == '"')
			break;
		if (c < 0x20)
			return 0; /* also the terminating NUL */
		if (c == '\\') {
			c = (unsigned char)*s++;
			if (c == 'u') {
				for (int i = 0; i < 4; i++)
					if (!fj_hex(*s++))
						return 0;
			} else if (!strchr("\"\\/bfnrt", c) || c == 0) {
				return 0;
			}
		}
	}
	*p = s;
	return 1;
}

static int fj_digits(const char **p)
{
	const char *s = *p;
	while (**p >= '0' && **p <= '9')
		(*p)++;
	return *p > s;
}

static int fj_number(const char **p)
{
	if (**p == '-')
		(*p)++;
	if (**p == '0')
		(*p)++;
	else if (!fj_digits(p))
		return 0;
	if (**p == '.') {
		(*p)++;
		if (!fj_digits(p))
			return 0;
	}
	if (**p == 'e' || **p == 'E') {
		(*p)++;
		if (**p == '+' || **p == '-')
			(*p)++;
		if (!fj_digits(p))
			return 0;
	}
	return 1;
}

static int fj_word(const char **p, const char *w)
{
	size_t n = strlen(w);
	if (strncmp(*p, w, n) != 0)
		return 0;
	*p += n;
	return 1;
}

static int fj_value(const char **p, int depth)
{
	if (depth > 64)
		return 0;
	fj_ws(p);
	switch (**p) {
	case '{':
		(*p)++;
		fj_ws(p);
		if (**p == '}') {
			(*p)++;
			return 1;
		}
		for (;;) {
			fj_ws(p);
			if (!fj_string(p))
				return 0;
			fj_ws(p);
			if (*(*p)++ != ':' || !fj_value(p, depth + 1))
				return 0;
			fj_ws(p);
			if (**p == ',') {
				(*p)++;
				continue;
			}
			return *(*p)++ == '}';
		}
	case '[':
		(*p)++;
		fj_ws(p);
		if (**p == ']') {
			(*p)++;
			return 1;
		}
		for (;;) {
			if (!fj_value(p, depth + 1))
				return 0;
			fj_ws(p);
			if (**p == ',') {
				(*p)++;
				continue;
			}
			return *(*p)++ == ']';
		}
	case '"':
		return fj_string(p);
	case 't':
		return fj_word(p, "true");
	case 'f':
		return fj_word(p, "false");
	case 'n':
		return fj_word(p, "null");
	default:
		return fj_number(p);
	}
}

static inline int fuzz_json_valid(const char *text)
{
	const char *p = text;
	if (!fj_value(&p, 0))
		return 0;
	fj_ws(&p);
	return *p == '\0';
}

#endif
