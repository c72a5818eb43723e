/*
 * linefmt.h: the one parser for the line-oriented text values recmesh reads
 * from NATS (hot list chunks, NS tables; doc/nats.md describes both). It
 * treats its input as hostile: lines have a maximum length and may not
 * hold NUL bytes, fields are separated by exactly one space, numbers are
 * plain decimals (no hex, no inf or nan, no '+', no spaces) within bounds.
 *
 * Ownership: the iterator only reads the caller's data and copies each line
 * into the caller's buffer; nothing is allocated. A line handed out is
 * writable and valid until the next linefmt_next() call. Fields from
 * linefmt_split() point into that line.
 *
 * Errors follow the project's convention: 0 (or a count) on success, -1
 * with a one-line reason in the caller's err/err_size; out-parameters are
 * set only on success.
 */
#ifndef RECMESH_LINEFMT_H
#define RECMESH_LINEFMT_H

#include <stddef.h>
#include <stdint.h>

struct linefmt {
	const char *data;
	size_t len, pos;
	size_t lineno; /* 1-based number of the line last handed out; 0 before the first */
};

void linefmt_init(struct linefmt *lf, const char *data, size_t len);

/*
 * Copies the next line (without its LF) into buf, NUL-terminated; a line
 * may be at most buf_size - 1 bytes. Returns 1 with *line (= buf) and
 * *line_len set, 0 at the end of the data, or -1 with "line N too long" or
 * "NUL byte on line N". A final line without LF counts as a line.
 */
int linefmt_next(struct linefmt *lf, char *buf, size_t buf_size, char **line, size_t *line_len,
		 char *err, size_t err_size);

/*
 * Splits line in place at single spaces into at most max fields. Returns
 * the number of fields, or -1 when there are more than max or a field is
 * empty (a leading, trailing or doubled space).
 */
int linefmt_split(char *line, char **fields, int max);

/* For a field "key=value": the value (possibly empty), or NULL when the key differs */
const char *linefmt_value(const char *field, const char *key);

/*
 * A strict decimal: '-' (only when min is negative), digits, optionally
 * '.' and digits, optionally an exponent (e or E, optional sign, digits).
 * The value must be finite and within [min, max]. Returns 0 and sets *out,
 * or -1.
 */
int linefmt_decimal(const char *s, double min, double max, double *out);

/* Digits only (no sign, no spaces), at most max. Returns 0 and sets *out, or -1 */
int linefmt_unsigned(const char *s, uint64_t max, uint64_t *out);

/* Writes the reason into err (when err_size > 0) and returns -1 */
int linefmt_fail(char *err, size_t err_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
