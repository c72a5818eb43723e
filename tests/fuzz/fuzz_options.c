/*
 * fuzz_options.c: libFuzzer harness for the config-file reader of
 * src/options.c (options_parse with --config FILE).
 *
 * The first input octet picks the subcommand, the rest is the file. It is
 * written to one temporary file (made once per process) and read through
 * the public entry point, as `recmesh CMD --config FILE` would. Checked:
 * nothing but a return of 0 or -1 (the file never prints --help), no
 * memory error, no leak after options_free (also after a failed parse),
 * and the numbers of an accepted file are finite and not negative.
 *
 * options_parse reports errors on stderr: run.sh runs this harness with
 * -close_fd_mask=2 (sanitizer reports still show).
 */
#include "config.h"

#include "fuzz.h"

#include "ops/options.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

static char path[64];
static int fd = -1;

static const enum rm_command commands[] = {CMD_PROXY, CMD_HOT, CMD_EVENTS, CMD_WARM, CMD_MIRROR, CMD_NS};
static const char *const names[] = {"proxy", "hot", "events", "warm", "mirror", "ns"};

static void cleanup(void)
{
	if (fd >= 0)
		unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(path, sizeof(path), "/tmp/recmesh-fuzz-options.XXXXXX");
	if ((fd = mkstemp(path)) < 0)
		abort();
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rm_options o;
	if (size < 1)
		return 0;
	size_t c = data[0] % 6;
	FUZZ_CHECK(ftruncate(fd, 0) == 0 && pwrite(fd, data + 1, size - 1, 0) == (ssize_t)(size - 1),
		   "cannot write %s", path);
	char a0[16], a1[] = "--config", a2[64];
	snprintf(a0, sizeof(a0), "%s", names[c]);
	snprintf(a2, sizeof(a2), "%s", path);
	char *argv[] = {a0, a1, a2, NULL};
	int rc = options_parse(commands[c], 3, argv, &o);
	FUZZ_CHECK(rc == 0 || rc == -1, "options_parse returned %d", rc);
	if (rc == 0) {
		double d[] = {o.upstream_timeout, o.tcp_idle_timeout, o.hot_interval, o.hot_half_life,
			      o.stats_interval, o.max_age, o.timeout, o.wait_timeout, o.query_timeout, o.intel_wait};
		for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
			FUZZ_CHECK(isfinite(d[i]) && d[i] >= 0, "number %zu is %g", i, d[i]);
		FUZZ_CHECK(o.config && strcmp(o.config, path) == 0, "config option lost");
	}
	options_free(&o);
	return 0;
}
