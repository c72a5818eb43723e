/*
 * topn.h: the sorted snapshot of a uthash table. The hot table, the hot
 * list merge and the NS table all need their entries in some order (the
 * hottest first, the coldest first, the most recently seen first) to copy
 * out the first N or to evict the last tenth; this is the one walk, array
 * and sort they share, and the one way they empty a table.
 *
 * Ownership: the array is malloc'd and belongs to the caller (free()); it
 * holds pointers to the table's own entries, valid until the table is
 * changed. The table itself is not modified.
 */
#ifndef RECMESH_TOPN_H
#define RECMESH_TOPN_H

#include <stddef.h>
#include <uthash.h>

/*
 * cmp compares two array slots, as qsort does: a and b each point to a
 * pointer to an entry (struct x *const *).
 */
typedef int (*topn_cmp_fn)(const void *a, const void *b);

/*
 * The entries of the uthash table whose first entry is head (entries
 * linked through a UT_hash_handle at hh_offset), sorted by cmp. Returns the
 * array and sets *n, or NULL (with *n 0) for an empty table or when out of
 * memory. Use TOPN_SORTED to fill in the offset.
 */
void **topn_sorted(void *head, size_t hh_offset, topn_cmp_fn cmp, size_t *n);

#define TOPN_SORTED(head, type, cmp, n) topn_sorted((head), offsetof(type, hh), (cmp), (n))

/* How many of n sorted entries to copy out when at most max are wanted */
static inline size_t topn_take(size_t n, size_t max)
{
	return n < max ? n : max;
}

/*
 * Empties the uthash table head (entries linked through a handle named hh)
 * and hands every entry to free_entry, a function taking a type *. The
 * table is empty (head NULL) afterwards.
 */
#define TOPN_CLEAR(head, type, free_entry)                                                         \
	do {                                                                                       \
		type *topn_e_, *topn_t_;                                                           \
		HASH_ITER(hh, (head), topn_e_, topn_t_)                                            \
		{                                                                                  \
			HASH_DEL((head), topn_e_);                                                 \
			free_entry(topn_e_);                                                       \
		}                                                                                  \
	} while (0)

#endif
