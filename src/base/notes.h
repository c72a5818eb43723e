/*
 * notes.h: lines a library function has to say, kept for its caller to log.
 *
 * Library code does not log (log.h): what it would say beyond its return
 * value (a hostile list skipped, a limit reached, a retry) goes into a
 * struct notes the caller hands in, and the caller logs them (notes_log)
 * or shows them its own way (notes_next). A struct notes is zeroed to
 * start and holds at most NOTES_MAX lines of at most NOTES_LINE_MAX bytes
 * each (cut there); lines beyond are counted, and the count is said as one
 * line before the ones kept. Not thread-safe: one owner at a time.
 */
#ifndef RECMESH_NOTES_H
#define RECMESH_NOTES_H

#include <stdarg.h>
#include <stddef.h>

#define NOTES_MAX 32
#define NOTES_LINE_MAX 1024

struct notes {
	struct {
		int level; /* log.h's LOG_LVL_* */
		char text[NOTES_LINE_MAX];
	} line[NOTES_MAX];
	unsigned head, n;
	unsigned long long lost; /* lines not kept, saturating */
};

/*
 * Adds a line; 1 when it was kept, 0 when not: n is NULL, the line is
 * below the log level now (log.h: a debug line while not debugging), or
 * NOTES_MAX lines wait already (it is counted)
 */
int notes_add(struct notes *n, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int notes_vadd(struct notes *n, int level, const char *fmt, va_list ap);
/*
 * Takes the oldest line: 1 with its level and text (cut at size), 0 when
 * none is left. Lines lost come first, as one warning that counts them.
 */
int notes_next(struct notes *n, int *level, char *text, size_t size);
/* Appends src's lines (and lost count) to dst's and empties src */
void notes_move(struct notes *dst, struct notes *src);
/* Logs every line left (log.h), oldest first, and empties n; NULL: nothing */
void notes_log(struct notes *n);

#endif
