/* getlimit.c: which hot-list requests a node answers; see getlimit.h */
#include "config.h"

#include "base/getlimit.h"

#include <stdio.h>
#include <string.h>

void getlimit_init(struct getlimit *g, double rate, double burst, double interval)
{
	memset(g, 0, sizeof(*g));
	g->rate = rate > 0 ? rate : GETLIMIT_RATE;
	g->burst = burst >= 1 ? burst : 1;
	g->interval = interval >= 0 ? interval : 0;
	g->tokens = g->burst;
	g->last_refill = -1; /* the first check starts the clock */
}

static int token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '_';
}

int getlimit_requester(const char *reply, char *key, size_t size)
{
	static const char prefix[] = "_INBOX.";
	size_t p = sizeof(prefix) - 1, i, len;
	if (!reply || strncmp(reply, prefix, p) != 0)
		return -1;
	len = strnlen(reply, GETLIMIT_REPLY_MAX + 1);
	if (len > GETLIMIT_REPLY_MAX)
		return -1;
	/* the first token after the prefix; later tokens are the requester's own */
	for (i = p; i < len && reply[i] != '.'; i++)
		if (!token_char(reply[i]))
			return -1;
	if (i == p || i >= size)
		return -1;
	/* whatever follows must be tokens too: no wildcard, no empty token */
	for (size_t k = i; k < len; k++) {
		if (reply[k] == '.') {
			if (k + 1 >= len || reply[k + 1] == '.')
				return -1;
		} else if (!token_char(reply[k])) {
			return -1;
		}
	}
	memcpy(key, reply, i);
	key[i] = '\0';
	return 0;
}

enum getlimit_verdict getlimit_check(struct getlimit *g, const char *reply, double now)
{
	char key[GETLIMIT_KEY_MAX];
	size_t slot = 0;
	if (getlimit_requester(reply, key, sizeof(key)) < 0)
		return GETLIMIT_REFUSE_INBOX;
	/* this requester's slot, or the one answered longest ago */
	for (size_t i = 0; i < GETLIMIT_REQUESTERS; i++) {
		if (g->seen[i].at != 0 && strcmp(g->seen[i].key, key) == 0) {
			if (now - g->seen[i].at < g->interval && now >= g->seen[i].at)
				return GETLIMIT_REFUSE_REPEAT;
			slot = i;
			break;
		}
		if (g->seen[i].at < g->seen[slot].at)
			slot = i;
	}
	if (g->last_refill >= 0 && now > g->last_refill) {
		g->tokens += (now - g->last_refill) * g->rate;
		if (g->tokens > g->burst)
			g->tokens = g->burst;
	}
	if (g->last_refill < 0 || now > g->last_refill)
		g->last_refill = now;
	if (g->tokens < 1)
		return GETLIMIT_REFUSE_RATE;
	g->tokens -= 1;
	snprintf(g->seen[slot].key, sizeof(g->seen[slot].key), "%s", key);
	g->seen[slot].at = now > 0 ? now : 1e-9;
	return GETLIMIT_OK;
}
