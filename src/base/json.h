/*
 * json.h: the one JSON writer. Every JSON text recmesh prints goes through
 * it, so every string is escaped the same way and no number is ever inf or
 * nan (a non-finite number is written as null).
 *
 * Ownership: the caller owns buf and keeps it alive while the writer is in
 * use; the writer never allocates. Commas and nesting are tracked for the
 * caller (at most JSON_MAX_DEPTH levels). When the text does not fit, the
 * writer stops writing and json_finish() reports it: a partial document is
 * never handed out as if it were whole.
 *
 * Strings: '"' and '\\' are escaped, and so is every byte below 0x20, 0x7f
 * and every byte from 0x80 up (as \u00XX), so the output is plain ASCII and
 * valid whatever bytes a hostile name or subject carried.
 */
#ifndef RECMESH_JSON_H
#define RECMESH_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 16

struct json {
	char *buf;
	size_t size, len;
	int overflow;
	unsigned depth;
	uint32_t has_items; /* bit d: level d already holds an item (a comma comes next) */
	int after_key;
};

void json_init(struct json *j, char *buf, size_t size);
void json_obj_begin(struct json *j);
void json_obj_end(struct json *j);
void json_arr_begin(struct json *j);
void json_arr_end(struct json *j);
void json_key(struct json *j, const char *key);

void json_str(struct json *j, const char *s);
void json_strn(struct json *j, const char *s, size_t n);
void json_u64(struct json *j, uint64_t v);
void json_i64(struct json *j, int64_t v);
/* A decimal with the given digits after the point; inf and nan become null */
void json_num(struct json *j, double v, int decimals);
void json_bool(struct json *j, int v);
void json_null(struct json *j);

/* Key and value in one call */
void json_kstr(struct json *j, const char *key, const char *s);
void json_ku64(struct json *j, const char *key, uint64_t v);
void json_ki64(struct json *j, const char *key, int64_t v);
void json_knum(struct json *j, const char *key, double v, int decimals);
void json_kbool(struct json *j, const char *key, int v);

/*
 * NUL-terminates the text. Returns its length, or -1 when it did not fit
 * or was left unbalanced (buf then holds an empty string).
 */
int json_finish(struct json *j);

/* json_finish, then the text and a newline to out; 0, or -1 (nothing written) */
int json_print(struct json *j, FILE *out);

/*
 * Writes s into out as the inside of a JSON string, escaped as above.
 * Stops short rather than overflow (never in the middle of an escape); out
 * is always terminated (out_size > 0).
 */
void json_escape(char *out, size_t out_size, const char *s);

#endif
