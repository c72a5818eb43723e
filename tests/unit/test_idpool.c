/* test_idpool.c: the ID pool: no ID twice, FIFO reuse, exhaustion, oldest order, random start */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "net/idpool.h"

#include <stdlib.h>
#include <string.h>

static void test_never_twice(void **state)
{
	struct idpool *p = idpool_create(IDPOOL_MAX);
	uint8_t *seen = calloc(IDPOOL_MAX, 1);
	assert_non_null(p);
	assert_non_null(seen);
	for (uint32_t i = 0; i < IDPOOL_MAX; i++) {
		int id = idpool_take(p, i);
		assert_true(id >= 0 && id < IDPOOL_MAX);
		assert_int_equal(seen[id], 0);
		seen[id] = 1;
		assert_true(idpool_in_flight(p, (uint16_t)id));
	}
	assert_int_equal(idpool_count(p), IDPOOL_MAX);
	/* giving an ID twice must not put it into the free ring twice */
	idpool_give(p, 7);
	idpool_give(p, 7);
	assert_int_equal(idpool_count(p), IDPOOL_MAX - 1);
	assert_int_equal(idpool_take(p, 1), 7);
	assert_int_equal(idpool_take(p, 1), -1);
	free(seen);
	idpool_destroy(p);
}

static void test_fifo_reuse(void **state)
{
	struct idpool *p = idpool_create(4);
	int a = idpool_take(p, 1), b = idpool_take(p, 2), c = idpool_take(p, 3), d = idpool_take(p, 4);
	assert_true(a >= 0 && b >= 0 && c >= 0 && d >= 0);
	idpool_give(p, (uint16_t)c);
	idpool_give(p, (uint16_t)a);
	idpool_give(p, (uint16_t)d);
	/* back in the order they were given */
	assert_int_equal(idpool_take(p, 5), c);
	assert_int_equal(idpool_take(p, 6), a);
	assert_int_equal(idpool_take(p, 7), d);
	idpool_destroy(p);
}

static void test_exhaustion(void **state)
{
	struct idpool *p = idpool_create(3);
	for (int i = 0; i < 3; i++)
		assert_true(idpool_take(p, 0) >= 0);
	assert_int_equal(idpool_take(p, 0), -1);
	assert_int_equal(idpool_take(p, 0), -1);
	assert_int_equal(idpool_count(p), 3);
	idpool_destroy(p);
	assert_null(idpool_create(0));
	assert_null(idpool_create(IDPOOL_MAX + 1));
	idpool_destroy(NULL);
}

static void test_oldest_order(void **state)
{
	struct idpool *p = idpool_create(16);
	uint64_t t = 0;
	assert_int_equal(idpool_oldest(p, &t), -1);
	int a = idpool_take(p, 100), b = idpool_take(p, 200), c = idpool_take(p, 300);
	assert_int_equal(idpool_oldest(p, &t), a);
	assert_int_equal(t, 100);
	assert_int_equal(idpool_sent(p, (uint16_t)b), 200);
	/* an answer from the middle leaves the order of the others alone */
	idpool_give(p, (uint16_t)b);
	assert_false(idpool_in_flight(p, (uint16_t)b));
	assert_int_equal(idpool_oldest(p, &t), a);
	idpool_give(p, (uint16_t)a);
	assert_int_equal(idpool_oldest(p, &t), c);
	assert_int_equal(t, 300);
	int d = idpool_take(p, 400);
	idpool_give(p, (uint16_t)c);
	assert_int_equal(idpool_oldest(p, &t), d);
	assert_int_equal(t, 400);
	idpool_give(p, (uint16_t)d);
	assert_int_equal(idpool_oldest(p, NULL), -1);
	assert_int_equal(idpool_count(p), 0);
	idpool_destroy(p);
}

static void test_random_permutation(void **state)
{
	struct idpool *p1 = idpool_create(IDPOOL_MAX), *p2 = idpool_create(IDPOOL_MAX);
	int same = 0, ascending = 0, prev = -1;
	for (int i = 0; i < 64; i++) {
		int a = idpool_take(p1, 0), b = idpool_take(p2, 0);
		same += a == b;
		ascending += a == prev + 1;
		prev = a;
	}
	/* two pools agreeing on 64 IDs in a row, or counting up, is no permutation */
	assert_true(same < 64);
	assert_true(ascending < 64);
	idpool_destroy(p1);
	idpool_destroy(p2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_never_twice),      cmocka_unit_test(test_fifo_reuse),
		cmocka_unit_test(test_exhaustion),       cmocka_unit_test(test_oldest_order),
		cmocka_unit_test(test_random_permutation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
