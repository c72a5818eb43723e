/*
 * fuzz.h: what every libFuzzer harness of tests/fuzz/ shares: the entry
 * point's prototype and FUZZ_CHECK, which reports a broken property (with
 * the values it saw) and aborts, so that libFuzzer keeps the input as a
 * crash.
 */
#ifndef RECMESH_FUZZ_H
#define RECMESH_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...)                                                              \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                      \
			fputc('\n', stderr);                                               \
			abort();                                                           \
		}                                                                          \
	} while (0)

/* A NUL-terminated copy of the input (the text parsers' view of it); free() it */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	for (size_t i = 0; i < size; i++)
		s[i] = (char)data[i];
	s[size] = '\0';
	return s;
}

/* Appends one item of size octets to a growing array (*v, *n, *cap) */
static inline void fuzz_push(void *vp, size_t *n, size_t *cap, const void *item, size_t size)
{
	void **v = vp;
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		if (!(*v = realloc(*v, *cap * size)))
			abort();
	}
	memcpy((char *)*v + *n * size, item, size);
	(*n)++;
}

#endif
