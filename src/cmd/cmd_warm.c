/* cmd_warm.c: `recmesh warm`, run right after a Recursor restart; see recmesh(1) */
#include "config.h"

#include "base/log.h"
#include "base/names.h"
#include "cmd/commands.h"
#include "nats/natsconn.h"
#include "ops/options.h"
#include "warm/warmup.h"

#include <nats/nats.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_int warm_stop;

static void on_signal(int sig)
{
	atomic_store(&warm_stop, 1);
}

struct say_ctx {
	int chatty; /* progress messages too (neither --quiet nor --json) */
};

/* The pipeline's messages: warnings always, progress unless -q or --json */
static void say_stderr(void *ctx, int level, const char *msg)
{
	const struct say_ctx *s = ctx;
	if (level <= LOG_LVL_WARN || s->chatty)
		fprintf(stderr, "recmesh warm: %s\n", msg);
}

int cmd_warm(int argc, char **argv)
{
	struct rm_options o;
	char err[512];
	struct warmup_result res;
	int rc = options_parse(CMD_WARM, argc, argv, &o);
	if (rc == 0 && options_apply(CMD_WARM, &o) < 0)
		rc = -1;
	if (rc != 0) {
		options_free(&o);
		return rc > 0 ? 0 : 2;
	}
	log_init("recmesh", 0, o.verbose ? LOG_LVL_DEBUG : o.quiet ? LOG_LVL_ERR : LOG_LVL_WARN);
	if (!o.target || !o.cluster || !names_valid(o.cluster)) {
		fprintf(stderr, "recmesh warm: --target ADDR:PORT and --cluster NAME are required\n"
				"Try 'recmesh warm --help'.\n");
		options_free(&o);
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	struct say_ctx sc = {.chatty = !o.quiet && !o.json};
	struct warmup_config wc = {
		.nats_url = o.nats,
		.nats_name = "recmesh warm",
		.cluster = o.cluster,
		.target = o.target,
		.intel_file = o.intel_file,
		.max_age = o.max_age,
		.half_life = o.hot_half_life,
		.nats_timeout = o.nats_timeout,
		.top = o.top,
		.sample = o.sample,
		.qps = o.qps,
		.max_qps = o.max_qps,
		.concurrency = o.concurrency,
		.query_timeout = o.query_timeout,
		.wait_timeout = o.wait_timeout,
		.intel_wait = o.intel_wait,
		.progress = !o.json && !o.quiet && isatty(STDERR_FILENO),
		.stop = &warm_stop,
		.say = say_stderr,
		.say_ctx = &sc,
	};
	rc = 1;
	if (warmup_run(&wc, &res, err, sizeof(err)) < 0) {
		fprintf(stderr, "recmesh warm: %s\n", err);
	} else {
		if (warmup_print(&res, o.target, o.json, stdout) < 0)
			fprintf(stderr, "recmesh warm: the summary did not fit\n");
		rc = res.stopped ? 1 : 0;
		warmup_result_free(&res);
	}
	nats_Close();
	natsconn_unconfigure(); /* wipes the secrets read at start */
	options_free(&o);
	return rc;
}
