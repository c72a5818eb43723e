/* topn.c: the sorted snapshot of a uthash table; see topn.h */
#include "config.h"

#include "base/topn.h"

#include <stdlib.h>
#include <uthash.h>

static UT_hash_handle *handle(void *entry, size_t hh_offset)
{
	return (UT_hash_handle *)((char *)entry + hh_offset);
}

void **topn_sorted(void *head, size_t hh_offset, topn_cmp_fn cmp, size_t *n)
{
	*n = 0;
	if (!head)
		return NULL;
	size_t count = handle(head, hh_offset)->tbl->num_items, i = 0;
	void **all = malloc(count * sizeof(*all));
	if (!all)
		return NULL;
	for (void *e = head; e && i < count; e = handle(e, hh_offset)->next)
		all[i++] = e;
	qsort(all, i, sizeof(*all), cmp);
	*n = i;
	return all;
}
