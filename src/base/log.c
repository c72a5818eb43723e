/* log.c: stderr or syslog logging; see log.h */
#include "config.h"

#include "base/log.h"

#include "base/clock.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *log_ident = "recmesh";
static int log_to_syslog;
/* read by every thread, changed by a reload (log_set_level) */
static atomic_int log_lvl = LOG_LVL_INFO;

void log_init(const char *ident, int use_syslog, int level)
{
	log_ident = ident;
	atomic_store_explicit(&log_lvl, level, memory_order_relaxed);
	if (use_syslog && !log_to_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_to_syslog = use_syslog;
}

int log_level(void)
{
	return atomic_load_explicit(&log_lvl, memory_order_relaxed);
}

void log_set_level(int level)
{
	atomic_store_explicit(&log_lvl, level, memory_order_relaxed);
}

void log_msg(int level, const char *fmt, ...)
{
	static const char *names[] = {"error", "warning", "info", "debug"};
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	char msg[1024];
	va_list ap;

	if (level > log_level())
		return;
	if (level < 0)
		level = 0;
	if (level > LOG_LVL_DEBUG)
		level = LOG_LVL_DEBUG;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_to_syslog) {
		syslog(prio[level], "%s", msg);
		return;
	}

	char line[1200], ts[32];
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	int n = snprintf(line, sizeof(line), "%s.%03ld %s[%d]: %s: %s\n", ts, (long)tv.tv_usec / 1000,
			 log_ident, (int)getpid(), names[level], msg);
	if (n > (int)sizeof(line) - 1)
		n = sizeof(line) - 1;
	/* one write so lines from several threads do not interleave */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

int log_once_enter(struct log_once *o, unsigned cond)
{
	unsigned bit = 1u << (cond & 31);
	return !(atomic_fetch_or(&o->bits, bit) & bit);
}

int log_once_clear(struct log_once *o)
{
	return atomic_exchange(&o->bits, 0) != 0;
}

int log_rated(struct log_rate *r, double interval, int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	uint64_t now = clock_mono_ns();
	uint64_t iv = interval > 0 ? (uint64_t)(interval * 1e9) : 0;

	if (r->started && now - r->last_ns < iv) {
		if (r->held < ~0ULL)
			r->held++;
		return 0;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r->held)
		log_msg(level, "%s (%llu more since the last)", msg, r->held);
	else
		log_msg(level, "%s", msg);
	r->started = 1;
	r->last_ns = now;
	r->held = 0;
	return 1;
}
