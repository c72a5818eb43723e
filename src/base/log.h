/*
 * log.h: the process-wide logger.
 *
 * Messages go to stderr (with a timestamp) or to syslog. Messages start
 * lower-case, carry no final period and quote names ('z1.com.'). Safe to call
 * from any thread; each message is written with one call.
 *
 * Who logs: the command functions and the threads at the top of a node
 * (data path, publisher, KV writer, auto-warm watcher). Library functions
 * return -1 with a reason in the caller's err buffer instead, and leave
 * the logging to their caller; what they have to say besides (a hostile
 * list skipped, a limit reached) goes into the caller's struct notes
 * (notes.h), and libnats' callbacks tell their connection's link
 * (nats/natslink.h), whose owner logs its lines.
 */
#ifndef RECMESH_LOG_H
#define RECMESH_LOG_H

#include <stdatomic.h>
#include <stdint.h>

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN = 1, LOG_LVL_INFO = 2, LOG_LVL_DEBUG = 3 };

/* ident is kept by pointer and must stay valid (a string literal) */
void log_init(const char *ident, int use_syslog, int level);
int log_level(void);
/* Any thread (a reload): messages above level are dropped from now on */
void log_set_level(int level);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * A limit reached on hostile input (a flood of refused connections, bad
 * frames) must be logged, but not once per event: a struct log_rate (one
 * per kind of message, owned by the thread that logs it, zeroed to start)
 * lets one message through per interval and counts the ones held back,
 * which the next message that goes out reports ("(N more since the last)").
 * The interval is in seconds; 0 lets every message through.
 */
struct log_rate {
	uint64_t last_ns;	     /* when the last message went out (monotonic) */
	unsigned long long held;     /* messages held back since then, saturating */
	int started;
};

/* Logs fmt unless another went out through r less than interval seconds ago; returns 1 if logged */
int log_rated(struct log_rate *r, double interval, int level, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * A condition said once while it lasts ("said once until it works"): a
 * struct log_once holds one bit per condition of the caller's enum (0 to
 * 31), never the text logged, so a message naming a detail that changes
 * from one try to the next (a temporary file's random name) is still said
 * once. Any thread (atomic); zeroed to start.
 */
struct log_once {
	atomic_uint bits;
};

/* Sets cond; 1 when it was not set (the caller logs it), 0 when already said */
int log_once_enter(struct log_once *o, unsigned cond);
/* Clears every condition; 1 when one was set (the caller says it works again) */
int log_once_clear(struct log_once *o);

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_level() >= LOG_LVL_DEBUG)                                                  \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                                       \
	} while (0)

#endif
