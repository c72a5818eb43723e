/* test_topn.c: the sorted snapshot of a uthash table */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/topn.h"

#include <stdlib.h>
#include <uthash.h>

struct ent {
	int key;
	double score;
	UT_hash_handle hh; /* not first: the offset must be honoured */
};

static int cmp_desc(const void *a, const void *b)
{
	const struct ent *x = *(struct ent *const *)a, *y = *(struct ent *const *)b;
	return (x->score < y->score) - (x->score > y->score);
}

static void test_empty(void **state)
{
	struct ent *head = NULL;
	size_t n = 99;
	assert_null(TOPN_SORTED(head, struct ent, cmp_desc, &n));
	assert_int_equal(n, 0);
}

static void test_sorted(void **state)
{
	struct ent *head = NULL, *e, *tmp;
	const double scores[] = {3, 9, 1, 7, 5, 8, 2};
	const size_t count = sizeof(scores) / sizeof(scores[0]);
	for (size_t i = 0; i < count; i++) {
		e = calloc(1, sizeof(*e));
		assert_non_null(e);
		e->key = (int)i;
		e->score = scores[i];
		HASH_ADD_INT(head, key, e);
	}
	/* deleting one keeps the count right */
	int k = 2;
	HASH_FIND_INT(head, &k, e);
	HASH_DEL(head, e);
	free(e);

	size_t n = 0;
	struct ent **all = (struct ent **)TOPN_SORTED(head, struct ent, cmp_desc, &n);
	assert_non_null(all);
	assert_int_equal(n, count - 1);
	const double want[] = {9, 8, 7, 5, 3, 2};
	for (size_t i = 0; i < n; i++)
		if (all[i]->score != want[i])
			fail_msg("slot %zu holds %g, expected %g", i, all[i]->score, want[i]);
	free(all);
	assert_int_equal(topn_take(6, 3), 3);
	assert_int_equal(topn_take(2, 3), 2);
	assert_int_equal(topn_take(0, 3), 0);
	/* the table is untouched */
	assert_int_equal(HASH_COUNT(head), count - 1);
	HASH_ITER(hh, head, e, tmp)
	{
		HASH_DEL(head, e);
		free(e);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_sorted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
