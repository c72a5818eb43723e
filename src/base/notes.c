/* notes.c: lines kept for the caller to log; see notes.h */
#include "config.h"

#include "base/notes.h"

#include "base/log.h"

#include <stdio.h>

int notes_vadd(struct notes *n, int level, const char *fmt, va_list ap)
{
	if (!n || level > log_level())
		return 0;
	if (n->n == NOTES_MAX) {
		if (n->lost < ~0ULL)
			n->lost++;
		return 0;
	}
	unsigned i = (n->head + n->n++) % NOTES_MAX;
	vsnprintf(n->line[i].text, sizeof(n->line[i].text), fmt, ap);
	n->line[i].level = level;
	return 1;
}

int notes_add(struct notes *n, int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int kept = notes_vadd(n, level, fmt, ap);
	va_end(ap);
	return kept;
}

int notes_next(struct notes *n, int *level, char *text, size_t size)
{
	if (n->lost) {
		*level = LOG_LVL_WARN;
		snprintf(text, size, "%llu more line(s) not logged: more than %d came at once",
			 n->lost, NOTES_MAX);
		n->lost = 0;
		return 1;
	}
	if (!n->n)
		return 0;
	*level = n->line[n->head].level;
	snprintf(text, size, "%s", n->line[n->head].text);
	n->head = (n->head + 1) % NOTES_MAX;
	n->n--;
	return 1;
}

void notes_log(struct notes *n)
{
	int level;
	char text[NOTES_LINE_MAX];
	while (n && notes_next(n, &level, text, sizeof(text)))
		log_msg(level, "%s", text);
}

void notes_move(struct notes *dst, struct notes *src)
{
	unsigned long long lost = src->lost;
	src->lost = 0;
	if (dst->lost + lost < lost)
		dst->lost = ~0ULL;
	else
		dst->lost += lost;
	while (src->n) {
		unsigned i = src->head;
		notes_add(dst, src->line[i].level, "%s", src->line[i].text);
		src->head = (src->head + 1) % NOTES_MAX;
		src->n--;
	}
}
