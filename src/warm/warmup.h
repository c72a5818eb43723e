/*
 * warmup.h: the one warm-up pipeline, used by `recmesh warm` and by
 * `recmesh proxy --auto-warm`:
 *
 *   1. fetch the fleet's hot lists (fleet_top) and report skipped nodes;
 *   2. write the authoritative-server intelligence file (when one is named);
 *   3. wait until the target can resolve: `. NS` with RD=1 answered
 *      NOERROR (replay_wait_ready);
 *   4. wait what is left of intel_wait since the file was written;
 *   5. replay (replay_run) and hand back one result.
 *
 * Blocking (NATS requests, the replay's own loop): call it from a command
 * or a worker thread, never from a libev thread. What happens along the
 * way is told through cfg->say, one message at a time, without a prefix
 * and without a final newline; the caller decides where it goes.
 */
#ifndef RECMESH_WARMUP_H
#define RECMESH_WARMUP_H

#include "nats/fleet.h"
#include "nats/intel.h"
#include "warm/replay.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>

/* level is a log level of log.h (LOG_LVL_WARN: always worth showing; LOG_LVL_INFO: progress) */
typedef void (*warmup_say_fn)(void *ctx, int level, const char *msg);

struct warmup_config {
	const char *nats_url;
	const char *nats_name; /* the connection's name on the NATS server */
	const char *cluster;
	const char *target;     /* ADDR:PORT */
	const char *intel_file; /* NULL or "": none is written */
	double max_age, half_life;
	double nats_timeout; /* KV reads tried again for this long (0: FLEET_DEFAULT_TIMEOUT) */
	unsigned top, qps, max_qps, concurrency;
	unsigned sample; /* node lists read beside the merged list (fleet_top; 0: every list) */
	double query_timeout, wait_timeout, intel_wait;
	int progress;      /* the replay's progress bar on stderr */
	atomic_int *stop;  /* may be NULL */
	struct replay_progress *live; /* the replay's progress, for other threads (may be NULL) */
	struct warmset *warmed;       /* the names the replay warmed (replay.h; may be NULL) */
	warmup_say_fn say; /* may be NULL */
	void *say_ctx;
};

struct warmup_skipped {
	char node[64];
	char why[160];
};

struct warmup_result {
	const char *source; /* "kv" or "request" (static) */
	char fallback[256]; /* with "request": why the bucket did not serve */
	size_t lists;       /* node lists merged */
	size_t heads;       /* node lists in the bucket, when a sample of them was read (else 0) */
	int merge_used;     /* the fleet's merged list gave the order */
	char merge_node[64];
	char merge_why[256]; /* with heads and no merge_used: why the merged list was not used */
	uint64_t nats_bytes; /* bytes read from NATS for the hot lists */
	double fetch_seconds; /* from the start until the lists were in hand */
	double first_seconds; /* from the start until the replay began */
	size_t names;       /* entries replayed (or to replay) */
	size_t sent, answered, timeouts, send_errors;
	size_t rcodes[16]; /* answers by RCODE, above 15 in [15] */
	double seconds;    /* the replay's */
	int stopped;
	double peak_qps, final_qps;
	size_t raises, backoffs, holds;
	size_t send_retries; /* sends put off a tick: the socket's buffer was full */
	struct warmup_skipped *skipped; /* malloc'd, nskipped of them */
	size_t nskipped;
	int intel_written;
	struct intel_refresh intel; /* what was written, with intel_written */
};

/*
 * Runs the pipeline. Returns 0 when the replay ran (stopped early or not:
 * res->stopped says), with res filled (free it with warmup_result_free);
 * -1 with a reason in err when it could not get that far (no NATS, no
 * usable list from the bucket nor from the running nodes, a target that never became ready, interrupted while
 * waiting); res is then left empty.
 */
int warmup_run(const struct warmup_config *cfg, struct warmup_result *res, char *err, size_t err_size);
void warmup_result_free(struct warmup_result *res);

/*
 * The summary, as text: lines joined by sep ("\n  " for a terminal, "; "
 * for a log line), no final newline. Always NUL-terminated; cut short
 * when buf is too small.
 */
void warmup_summary_text(const struct warmup_result *r, const char *target, const char *sep, char *buf,
			 size_t size);

/*
 * Prints the summary to out: the text lines, or one JSON object on one
 * line (the members of `recmesh warm --json`, see recmesh(1)). Returns 0,
 * or -1 when the JSON did not fit (nothing printed).
 */
int warmup_print(const struct warmup_result *r, const char *target, int json, FILE *out);

#endif
