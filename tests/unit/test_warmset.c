/* test_warmset.c: the set of names a restarted Recursor has answered */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tables/warmset.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static size_t wire(const char *text, uint8_t *out)
{
	/* "www.example" -> 3www7example0 */
	size_t o = 0;
	const char *s = text;
	while (*s) {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);
		out[o++] = (uint8_t)l;
		memcpy(out + o, s, l);
		o += l;
		s += l + (dot ? 1 : 0);
	}
	out[o++] = 0;
	return o;
}

static uint64_t key(struct warmset *w, const char *name, uint16_t qtype)
{
	uint8_t b[256];
	size_t l = wire(name, b);
	return warmset_key(w, b, l, qtype);
}

static void test_basic(void **state)
{
	(void)state;
	struct warmset *w = warmset_create(42);
	assert_non_null(w);
	uint64_t a = key(w, "www.example", 1);
	assert_int_equal(a, key(w, "WWW.Example", 1)); /* case does not matter */
	assert_int_not_equal(a, key(w, "www.example", 28));
	assert_int_not_equal(a, key(w, "ww.wexample", 1));
	assert_false(warmset_has(w, a));
	assert_int_equal(warmset_add(w, a), 1);
	assert_int_equal(warmset_add(w, a), 0);
	assert_true(warmset_has(w, a));
	assert_false(warmset_has(w, key(w, "www.example", 28)));
	assert_int_equal(warmset_count(w), 1);
	/* another seed, other keys */
	struct warmset *v = warmset_create(43);
	assert_int_not_equal(a, key(v, "www.example", 1));
	warmset_destroy(v);
	/* a clear forgets every name; they can be added again */
	warmset_clear(w);
	assert_false(warmset_has(w, a));
	assert_int_equal(warmset_count(w), 0);
	assert_int_equal(warmset_add(w, a), 1);
	assert_true(warmset_has(w, a));
	warmset_destroy(w);
}

/* WARMSET_MAX names at most: the next is refused and counted; every one added is found */
static void test_bound(void **state)
{
	(void)state;
	struct warmset *w = warmset_create(7);
	char name[64];
	size_t added = 0, refused = 0;
	for (unsigned i = 0; i < WARMSET_MAX + 1000; i++) {
		snprintf(name, sizeof(name), "n%u.example", i);
		int r = warmset_add(w, key(w, name, 1));
		if (r == 1)
			added++;
		else if (r < 0)
			refused++;
	}
	printf("    %zu added, %zu refused of %u (at most %u)\n", added, refused, WARMSET_MAX + 1000,
	       WARMSET_MAX);
	assert_true(added <= WARMSET_MAX);
	assert_true(refused >= 1000);
	assert_int_equal(warmset_refused(w), refused);
	assert_int_equal(warmset_count(w), added);
	size_t found = 0;
	for (unsigned i = 0; i < WARMSET_MAX + 1000; i++) {
		snprintf(name, sizeof(name), "n%u.example", i);
		found += (size_t)warmset_has(w, key(w, name, 1));
	}
	/* a refused name may share an added one's key: found at least the added */
	assert_true(found >= added);
	assert_true(found <= added + added / 1000 + 1);
	/* a clear makes room for as many again, in the slots of the old generation */
	warmset_clear(w);
	assert_int_equal(warmset_refused(w), 0);
	size_t again = 0;
	for (unsigned i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "m%u.example", i);
		again += warmset_add(w, key(w, name, 1)) == 1;
	}
	assert_int_equal(again, 1000);
	snprintf(name, sizeof(name), "n%u.example", 5);
	assert_false(warmset_has(w, key(w, name, 1)));
	warmset_destroy(w);
}

/* Keys that all start at one slot (a hostile list's best try): the probe bound refuses the rest */
static void test_probes(void **state)
{
	(void)state;
	struct warmset *w = warmset_create(9);
	uint64_t keys[WARMSET_PROBES + 2];
	size_t n = 0, start = warmset_slot_of(1);
	for (uint64_t k = 1; n < WARMSET_PROBES + 2; k++)
		if (warmset_slot_of(k) == start)
			keys[n++] = k;
	for (size_t i = 0; i < WARMSET_PROBES; i++)
		assert_int_equal(warmset_add(w, keys[i]), 1);
	assert_int_equal(warmset_add(w, keys[WARMSET_PROBES]), -1);
	assert_int_equal(warmset_add(w, keys[WARMSET_PROBES + 1]), -1);
	assert_int_equal(warmset_refused(w), 2);
	for (size_t i = 0; i < WARMSET_PROBES; i++)
		assert_true(warmset_has(w, keys[i]));
	assert_false(warmset_has(w, keys[WARMSET_PROBES]));
	/* after a clear, the old generation's slots are free again */
	warmset_clear(w);
	assert_int_equal(warmset_add(w, keys[WARMSET_PROBES + 1]), 1);
	assert_true(warmset_has(w, keys[WARMSET_PROBES + 1]));
	assert_false(warmset_has(w, keys[0]));
	warmset_destroy(w);
}

struct writer_arg {
	struct warmset *w;
	unsigned base;
};

static void *writer(void *p)
{
	struct writer_arg *a = p;
	char name[64];
	for (unsigned i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "t%u.example", a->base + i);
		if (warmset_add(a->w, key(a->w, name, 1)) < 0)
			return (void *)1;
	}
	return NULL;
}

/* Two writers at once (the data path and the auto-warm): every name of both is found */
static void test_writers(void **state)
{
	(void)state;
	struct warmset *w = warmset_create(11);
	pthread_t t[2];
	struct writer_arg a[2] = {{w, 0}, {w, 10000}}; /* half of the names are the same */
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer, &a[i]), 0);
	for (int i = 0; i < 2; i++) {
		void *r;
		pthread_join(t[i], &r);
		assert_null(r);
	}
	char name[64];
	for (unsigned i = 0; i < 30000; i++) {
		snprintf(name, sizeof(name), "t%u.example", i);
		assert_true(warmset_has(w, key(w, name, 1)));
	}
	/* each name once, unless two names share a key */
	printf("    %zu names from two writers of 20000 each, 10000 shared\n", warmset_count(w));
	assert_true(warmset_count(w) <= 30000 && warmset_count(w) >= 29990);
	warmset_destroy(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_probes),
		cmocka_unit_test(test_writers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
