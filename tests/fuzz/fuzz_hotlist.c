/*
 * fuzz_hotlist.c: libFuzzer harness for hotlist_parse (src/hotlist.c), the
 * reader of the hot-list chunks every node stores in the KV bucket.
 *
 * Checked: a chunk is refused with a reason or accepted whole, the same
 * with and without a callback; an accepted header and its items are within
 * the documented bounds; and the accepted items, written again with
 * hotlist_encode (into chunks of a size taken from the input, so that
 * lists split) and parsed again, come back the same: same names and types
 * in the same order, scores to the 3 decimals the text keeps.
 */
#include "config.h"

#include "fuzz.h"

#include "base/names.h"
#include "tables/hotlist.h"

#include <math.h>
#include <string.h>

struct items {
	struct hot_item *v;
	size_t n, cap;
};

static void collect(const struct hot_item *it, void *arg)
{
	struct items *s = arg;
	fuzz_push(&s->v, &s->n, &s->cap, it, sizeof(*it));
}

static void check_item(const struct hot_item *it)
{
	FUZZ_CHECK(isfinite(it->score) && it->score >= 0 && it->score <= HOTLIST_MAX_SCORE, "score %g", it->score);
	FUZZ_CHECK(it->qtype != 0, "type 0 accepted");
	size_t pos = 0;
	FUZZ_CHECK(it->qname_len >= 1, "empty name");
	while (it->qname[pos] != 0) {
		FUZZ_CHECK(it->qname[pos] <= 63 && pos + 1 + it->qname[pos] < it->qname_len, "bad label at %zu", pos);
		pos += 1 + (size_t)it->qname[pos];
	}
	FUZZ_CHECK(pos + 1 == it->qname_len, "name of %u octets ends at %zu", it->qname_len, pos);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hotlist_header h, h2;
	struct items a = {0}, b = {0};
	char err[160] = "";
	const char *text = (const char *)data;

	int checked = hotlist_parse(text, size, &h, NULL, NULL, err, sizeof(err));
	int n = hotlist_parse(text, size, &h, collect, &a, err, sizeof(err));
	FUZZ_CHECK(n == checked, "two parses: %d and %d", checked, n);
	if (n < 0) {
		FUZZ_CHECK(err[0] != '\0', "refused without a reason");
		free(a.v);
		return 0;
	}
	FUZZ_CHECK((size_t)n == a.n, "%d items, %zu delivered", n, a.n);
	FUZZ_CHECK(names_valid(h.node) && isfinite(h.time) && h.time >= 0 && h.chunks >= 1 &&
			   h.chunks <= HOTLIST_MAX_CHUNKS && h.chunk < h.chunks,
		   "header node '%s' time %g chunk %u/%u", h.node, h.time, h.chunk, h.chunks);
	for (size_t i = 0; i < a.n; i++)
		check_item(&a.v[i]);

	/* round trip */
	struct hotlist_chunk *chunks = NULL;
	size_t nchunks = 0, max_chunk = 2048 + (size % 4096);
	int rc = hotlist_encode(a.v, a.n, h.node, h.time, h.gen, max_chunk, &chunks, &nchunks);
	FUZZ_CHECK(rc == 0 || a.n / 2 > HOTLIST_MAX_CHUNKS, "cannot encode %zu parsed items", a.n);
	for (size_t c = 0; rc == 0 && c < nchunks; c++) {
		FUZZ_CHECK(chunks[c].len <= max_chunk && strlen(chunks[c].data) == chunks[c].len,
			   "chunk %zu of %zu octets, limit %zu", c, chunks[c].len, max_chunk);
		int m = hotlist_parse(chunks[c].data, chunks[c].len, &h2, collect, &b, err, sizeof(err));
		FUZZ_CHECK(m >= 0, "our chunk %zu does not parse: %s", c, err);
		FUZZ_CHECK(strcmp(h2.node, h.node) == 0 && h2.gen == h.gen && h2.chunk == c && h2.chunks == nchunks &&
				   fabs(h2.time - h.time) <= 0.0005 + fabs(h.time) * 1e-15,
			   "header back as '%s' gen %llu chunk %u/%u time %.6f (was %.6f)", h2.node,
			   (unsigned long long)h2.gen, h2.chunk, h2.chunks, h2.time, h.time);
	}
	if (rc == 0) {
		FUZZ_CHECK(b.n == a.n, "%zu items written, %zu read back", a.n, b.n);
		for (size_t i = 0; i < a.n; i++)
			FUZZ_CHECK(a.v[i].qtype == b.v[i].qtype && a.v[i].qname_len == b.v[i].qname_len &&
					   memcmp(a.v[i].qname, b.v[i].qname, a.v[i].qname_len) == 0 &&
					   fabs(a.v[i].score - b.v[i].score) <= 0.0005 + a.v[i].score * 1e-15,
				   "item %zu back as type %u score %.6f (was %u %.6f)", i, b.v[i].qtype, b.v[i].score,
				   a.v[i].qtype, a.v[i].score);
	}
	hotlist_chunks_free(chunks, nchunks);
	free(a.v);
	free(b.v);
	return 0;
}
