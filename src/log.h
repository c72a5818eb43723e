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
 * the logging to their caller.
 */
#ifndef RECMESH_LOG_H
#define RECMESH_LOG_H

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN = 1, LOG_LVL_INFO = 2, LOG_LVL_DEBUG = 3 };

/* ident is kept by pointer and must stay valid (a string literal) */
void log_init(const char *ident, int use_syslog, int level);
int log_level(void);
/* Any thread (a reload): messages above level are dropped from now on */
void log_set_level(int level);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_level() >= LOG_LVL_DEBUG)                                                  \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                                       \
	} while (0)

#endif
