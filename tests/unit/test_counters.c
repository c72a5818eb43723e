/*
 * test_counters.c: the one counter table (ops/counters.c) against what is
 * made from it, the stats lines and the Prometheus families, and against
 * recmesh(1): its METRICS section names exactly the table's families, and
 * its LOGGING section lists exactly each line's keys, in the table's order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ops/counters.h"
#include "manpage.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Values that tell every entry apart: entry i holds 1000 + i (or 1000.25 + i) */
static struct counter_values *distinct_values(void)
{
	struct counter_values *v = calloc(1, sizeof(*v));
	assert_non_null(v);
	for (int s = 0; s < CSRC_N; s++)
		v->has[s] = 1;
	for (size_t i = 0; i < counter_ndefs; i++) {
		const struct counter_def *d = &counter_defs[i];
		if (d->kind == CK_U64) {
			uint64_t u = 1000 + i;
			memcpy((char *)v + d->off, &u, sizeof(u));
		} else if (d->kind == CK_DBL) {
			double x = 1000.25 + (double)i;
			memcpy((char *)v + d->off, &x, sizeof(x));
		}
	}
	return v;
}

static void test_table_is_sound(void **state)
{
	(void)state;
	for (size_t i = 0; i < counter_ndefs; i++) {
		const struct counter_def *d = &counter_defs[i];
		if (!d->family && !d->key)
			fail_msg("entry %zu is neither logged nor exposed", i);
		if (d->line != CLINE_NONE && !d->key)
			fail_msg("entry %zu (%s) is on a line without a key", i, d->family);
		if (d->line == CLINE_NONE && d->key)
			fail_msg("entry %zu has key '%s' but no line", i, d->key);
		if (d->kind == CK_CUSTOM && (d->line != CLINE_NONE || !d->family))
			fail_msg("custom entry %zu must be a family only", i);
		if (d->family) {
			/* a family's entries are together; its first has the help */
			int first = i == 0 || !counter_defs[i - 1].family ||
				    strcmp(counter_defs[i - 1].family, d->family);
			if (first && (!d->help || !*d->help))
				fail_msg("family %s has no help on its first entry", d->family);
			if (!first && d->help)
				fail_msg("family %s has a second help at entry %zu", d->family, i);
			if (!first && (strcmp(counter_defs[i - 1].type, d->type) ||
				       !counter_defs[i - 1].label != !d->label ||
				       (d->label && strcmp(counter_defs[i - 1].label, d->label))))
				fail_msg("family %s changes its type or label at entry %zu",
					 d->family, i);
			if (first)
				for (size_t j = 0; j < i; j++)
					if (counter_defs[j].family &&
					    !strcmp(counter_defs[j].family, d->family))
						fail_msg("family %s is split (entries %zu and %zu)",
							 d->family, j, i);
			if (!d->label && !first)
				fail_msg("family %s without a label has two entries", d->family);
		}
		for (size_t j = 0; j < i; j++) {
			const struct counter_def *e = &counter_defs[j];
			if (d->key && e->key && d->line == e->line && !strcmp(d->key, e->key))
				fail_msg("key %s twice on the %s line", d->key,
					 counter_line_names[d->line]);
			if (d->label && e->label && !strcmp(d->family, e->family) &&
			    !strcmp(d->label_value, e->label_value))
				fail_msg("%s{%s=\"%s\"} twice", d->family, d->label,
					 d->label_value);
			if (d->kind != CK_CUSTOM && e->kind != CK_CUSTOM && d->off == e->off)
				fail_msg("entries %zu and %zu read the same field", j, i);
		}
	}
}

/* Every entry shows up in /metrics and on its line, with its own value */
static void test_outputs_follow_the_table(void **state)
{
	(void)state;
	struct counter_values *v = distinct_values();
	struct ctext o = {0};
	counters_prometheus(v, &o, NULL, NULL);
	assert_false(o.oom);
	assert_non_null(o.buf);
	char want[300], line[1000];
	for (size_t i = 0; i < counter_ndefs; i++) {
		const struct counter_def *d = &counter_defs[i];
		if (d->family) {
			snprintf(want, sizeof(want), "# HELP %s ", d->family);
			if (!strstr(o.buf, want))
				fail_msg("no HELP for %s", d->family);
			snprintf(want, sizeof(want), "# TYPE %s %s\n", d->family, d->type);
			if (!strstr(o.buf, want))
				fail_msg("no TYPE for %s", d->family);
			if (d->kind == CK_DBL)
				snprintf(want, sizeof(want), "\n%s %.3f\n", d->family,
					 1000.25 + (double)i);
			else if (d->label)
				snprintf(want, sizeof(want), "\n%s{%s=\"%s\"} %zu\n", d->family,
					 d->label, d->label_value, 1000 + i);
			else if (d->kind == CK_U64)
				snprintf(want, sizeof(want), "\n%s %zu\n", d->family, 1000 + i);
			if (d->kind != CK_CUSTOM && !strstr(o.buf, want))
				fail_msg("'%s' missing from /metrics", want + 1);
		}
		if (d->key) {
			assert_int_equal(counters_line(v, d->line, line, sizeof(line)), 1);
			if (d->kind == CK_DBL)
				snprintf(want, sizeof(want), " %s=%.3f", d->key,
					 1000.25 + (double)i);
			else
				snprintf(want, sizeof(want), " %s=%zu", d->key, 1000 + i);
			size_t n = strlen(line), w = strlen(want);
			char *at = strstr(line, want);
			if (!at || (at[w] != ' ' && at + w != line + n))
				fail_msg("'%s' missing from the %s line: %s", want + 1,
					 counter_line_names[d->line], line);
		}
	}
	free(o.buf);
	free(v);
}

/* A line starts with its name; words show for small values; an absent source is left out */
static void test_lines(void **state)
{
	(void)state;
	struct counter_values *v = calloc(1, sizeof(*v));
	assert_non_null(v);
	char line[1000];
	v->has[CSRC_PUB] = 1;
	v->pub.connected = 1;
	v->pub.published = 7;
	assert_int_equal(counters_line(v, CLINE_EVENTS, line, sizeof(line)), 1);
	assert_non_null(strstr(line, "events published=7 "));
	assert_int_equal(strncmp(line, "events published=7 ", 19), 0);
	assert_non_null(strstr(line, " nats=connected "));
	v->pub.connected = 0;
	counters_line(v, CLINE_EVENTS, line, sizeof(line));
	assert_non_null(strstr(line, " nats=disconnected "));
	/* the protobuf line needs the listener, even though the publisher has some of its counters */
	assert_int_equal(counters_line(v, CLINE_PROTOBUF, line, sizeof(line)), 0);
	assert_int_equal(counters_line(v, CLINE_QUERIES, line, sizeof(line)), 0);
	v->has[CSRC_PB] = 1;
	v->pb.connections = 3;
	v->pb.connections_open = 2;
	assert_int_equal(counters_line(v, CLINE_PROTOBUF, line, sizeof(line)), 1);
	assert_int_equal(strncmp(line, "protobuf connections=3 open=2 frames=0 ", 39), 0);
	/* the peers line: mode as a word */
	v->has[CSRC_PEER] = 1;
	v->proxy.peer.mode = 2;
	counters_line(v, CLINE_PEERS, line, sizeof(line));
	assert_non_null(strstr(line, " mode=down"));
	v->proxy.peer.mode = 1;
	counters_line(v, CLINE_PEERS, line, sizeof(line));
	assert_non_null(strstr(line, " mode=warming"));
	/* a short buffer: truncated, never overrun */
	char small[12];
	memset(small, 'x', sizeof(small));
	assert_int_equal(counters_line(v, CLINE_EVENTS, small, sizeof(small)), 1);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	free(v);
}

static char *read_man(void)
{
	char path[4096];
	return man_read(path, sizeof(path));
}

/* The section from ".SH NAME\n" to the next ".SH", as a copy */
static char *section(const char *man, const char *name)
{
	char head[64];
	snprintf(head, sizeof(head), "\n.SH %s\n", name);
	const char *a = strstr(man, head);
	if (!a)
		fail_msg("no section %s in recmesh(1)", name);
	a += strlen(head);
	const char *b = strstr(a, "\n.SH ");
	size_t n = b ? (size_t)(b - a) : strlen(a);
	char *s = malloc(n + 1);
	assert_non_null(s);
	memcpy(s, a, n);
	s[n] = '\0';
	return s;
}

static int family_known(const char *name)
{
	for (size_t i = 0; i < counter_ndefs; i++)
		if (counter_defs[i].family && !strcmp(counter_defs[i].family, name))
			return 1;
	return 0;
}

/* METRICS names every family of the table, and no other recmesh_ name */
static void test_man_metrics(void **state)
{
	(void)state;
	char *sec = section(read_man(), "METRICS");
	for (size_t i = 0; i < counter_ndefs; i++) {
		const struct counter_def *d = &counter_defs[i];
		if (!d->family)
			continue;
		char want[200];
		snprintf(want, sizeof(want), "%s", d->family);
		/* a whole word: not followed by another name character */
		const char *p = sec;
		int found = 0;
		while ((p = strstr(p, want))) {
			char c = p[strlen(want)];
			if (!(c >= 'a' && c <= 'z') && c != '_' && !(c >= '0' && c <= '9')) {
				found = 1;
				break;
			}
			p++;
		}
		if (!found)
			fail_msg("recmesh(1) METRICS does not name %s", d->family);
	}
	unsigned bad = 0;
	for (const char *p = sec; (p = strstr(p, "recmesh_"));) {
		char name[200];
		size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");
		if (n >= sizeof(name))
			n = sizeof(name) - 1;
		memcpy(name, p, n);
		name[n] = '\0';
		/* recmesh_peer_* and the like: a wildcard, not a family */
		if (p[n] != '*' && !family_known(name)) {
			print_message("recmesh(1) METRICS names %s, which is not in the table\n",
				      name);
			bad++;
		}
		p += n;
	}
	assert_int_equal(bad, 0);
	free(sec);
}

/*
 * LOGGING: under ".PP" "The NAME line", each ".TP" followed by ".B key="
 * is a key of that line; the keys must be the table's, in its order.
 */
static void test_man_log_lines(void **state)
{
	(void)state;
	char *sec = section(read_man(), "LOGGING");
	char keys[CLINE_N][2000];
	memset(keys, 0, sizeof(keys));
	int cur = -1, after_tp = 0;
	regex_t head; /* "The protobuf limits line:", "The queries line (proxy):" */
	assert_int_equal(regcomp(&head, "^The [a-z -]+ line([ :]|$)", REG_EXTENDED | REG_NOSUB), 0);
	for (char *ln = strtok(sec, "\n"); ln; ln = strtok(NULL, "\n")) {
		if (!regexec(&head, ln, 0, NULL, 0)) {
			cur = -1;
			for (int l = CLINE_NONE + 1; l < CLINE_N; l++) {
				size_t n = strlen(counter_line_names[l]);
				if (!strncmp(ln + 4, counter_line_names[l], n) &&
				    !strncmp(ln + 4 + n, " line", 5))
					cur = l;
			}
			if (cur < 0)
				fail_msg("recmesh(1) LOGGING describes a line not in the table: %s",
					 ln);
			continue;
		}
		if (!strcmp(ln, ".PP") || !strncmp(ln, ".SS", 3)) {
			after_tp = 0;
			if (!strcmp(ln, ".PP"))
				continue;
		}
		if (!strcmp(ln, ".TP")) {
			after_tp = 1;
			continue;
		}
		if (after_tp && cur > 0 && !strncmp(ln, ".B ", 3)) {
			char key[100];
			size_t k = 0;
			for (const char *p = ln + 3; *p && *p != '=' && k + 1 < sizeof(key); p++)
				if (*p != '\\')
					key[k++] = *p;
			key[k] = '\0';
			strncat(keys[cur], " ", sizeof(keys[cur]) - strlen(keys[cur]) - 1);
			strncat(keys[cur], key, sizeof(keys[cur]) - strlen(keys[cur]) - 1);
		}
		after_tp = 0;
	}
	regfree(&head);
	int bad = 0;
	for (int l = CLINE_NONE + 1; l < CLINE_N; l++) {
		char want[2000] = "";
		for (size_t i = 0; i < counter_ndefs; i++)
			if ((int)counter_defs[i].line == l) {
				strncat(want, " ", sizeof(want) - strlen(want) - 1);
				strncat(want, counter_defs[i].key, sizeof(want) - strlen(want) - 1);
			}
		if (strcmp(want, keys[l])) {
			print_message(
				"the %s line: the table has\n  %s\nrecmesh(1) LOGGING lists\n  %s\n",
				counter_line_names[l], want, keys[l]);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
	free(sec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_is_sound),
		cmocka_unit_test(test_outputs_follow_the_table),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_man_metrics),
		cmocka_unit_test(test_man_log_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
