/* test_tcpframe.c: the length-prefixed TCP frame reader */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "net/tcpframe.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Writes frames "A", "BB", "CCC", ... into out; returns the length */
static size_t make_stream(uint8_t *out, int frames)
{
	size_t o = 0;
	for (int i = 1; i <= frames; i++) {
		out[o++] = 0;
		out[o++] = (uint8_t)i;
		memset(out + o, 'A' + i - 1, (size_t)i);
		o += (size_t)i;
	}
	return o;
}

/* Takes every complete frame; checks each is the next one expected */
static int take_all(struct tcpframe *f, int *next)
{
	uint8_t *fr;
	size_t len;
	char err[128];
	int r, got = 0;
	while ((r = tcpframe_next(f, &fr, &len, err, sizeof(err))) == 1) {
		if (len != (size_t)*next || fr[0] != 'A' + *next - 1 || fr[len - 1] != fr[0])
			fail_msg("frame %d: length %zu, first byte '%c'", *next, len, fr[0]);
		(*next)++;
		got++;
	}
	if (r != 0)
		fail_msg("tcpframe_next: %d (%s)", r, err);
	return got;
}

/* A stream of frames and a reader with a limit of 100 */
struct fixture {
	uint8_t s[256];
	size_t n;
	struct tcpframe f;
	int next;
};

static void start(struct fixture *x, int frames)
{
	char err[128];
	x->n = make_stream(x->s, frames);
	x->next = 1;
	if (tcpframe_init(&x->f, 100, err, sizeof(err)) != 0)
		fail_msg("tcpframe_init: %s", err);
}

static void test_byte_by_byte(void **state)
{
	struct fixture x;
	start(&x, 5);
	for (size_t i = 0; i < x.n; i++) {
		assert_int_equal(tcpframe_feed(&x.f, x.s + i, 1), 1);
		take_all(&x.f, &x.next);
	}
	if (x.next != 6)
		fail_msg("got %d frames, expected 5", x.next - 1);
	assert_int_equal(tcpframe_pending(&x.f), 0);
	tcpframe_free(&x.f);
	tcpframe_free(&x.f); /* twice is harmless */
}

static void test_several_in_one(void **state)
{
	struct fixture x;
	start(&x, 6);
	/* all but the last byte: five frames complete, the sixth waits */
	assert_int_equal(tcpframe_feed(&x.f, x.s, x.n - 1), x.n - 1);
	assert_int_equal(take_all(&x.f, &x.next), 5);
	assert_int_equal(tcpframe_pending(&x.f), 2 + 6 - 1);
	assert_int_equal(tcpframe_feed(&x.f, x.s + x.n - 1, 1), 1);
	assert_int_equal(take_all(&x.f, &x.next), 1);
	tcpframe_free(&x.f);
}

static void test_oversize(void **state)
{
	char err[128] = "";
	struct tcpframe f;
	uint8_t *fr;
	size_t len;
	const uint8_t big[] = {0x00, 0x11, 'x'}; /* 17 bytes announced, the limit is 16 */
	assert_int_equal(tcpframe_init(&f, 16, err, sizeof(err)), 0);
	assert_int_equal(tcpframe_feed(&f, big, sizeof(big)), sizeof(big));
	assert_int_equal(tcpframe_next(&f, &fr, &len, err, sizeof(err)), -1);
	if (!strstr(err, "17"))
		fail_msg("reason '%s'", err);
	tcpframe_free(&f);
	/* exactly the limit passes, and a full buffer takes no more */
	uint8_t ok[2 + 16] = {0x00, 0x10};
	assert_int_equal(tcpframe_init(&f, 16, err, sizeof(err)), 0);
	assert_int_equal(tcpframe_feed(&f, ok, sizeof(ok)), sizeof(ok));
	assert_int_equal(tcpframe_feed(&f, ok, 1), 0);
	assert_int_equal(tcpframe_next(&f, &fr, &len, err, sizeof(err)), 1);
	assert_int_equal(len, 16);
	assert_int_equal(tcpframe_feed(&f, ok, 1), 1);
	tcpframe_free(&f);
	assert_int_equal(tcpframe_init(&f, 0, err, sizeof(err)), -1);
	assert_int_equal(tcpframe_init(&f, TCPFRAME_MAX + 1, err, sizeof(err)), -1);
}

static void test_zero_length(void **state)
{
	char err[128];
	struct tcpframe f;
	uint8_t *fr;
	size_t len = 99;
	const uint8_t s[] = {0, 0, 0, 1, 'A'};
	assert_int_equal(tcpframe_init(&f, 100, err, sizeof(err)), 0);
	tcpframe_feed(&f, s, sizeof(s));
	assert_int_equal(tcpframe_next(&f, &fr, &len, err, sizeof(err)), 1);
	assert_int_equal(len, 0);
	assert_int_equal(tcpframe_next(&f, &fr, &len, err, sizeof(err)), 1);
	assert_int_equal(len, 1);
	assert_int_equal(fr[0], 'A');
	assert_int_equal(tcpframe_next(&f, &fr, &len, err, sizeof(err)), 0);
	tcpframe_free(&f);
}

/* Through a real socket: EOF in the middle of a frame */
static void test_eof_mid_frame(void **state)
{
	int sv[2];
	char err[128];
	struct tcpframe f;
	uint8_t s[256];
	int next = 1;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	assert_int_equal(tcpframe_init(&f, 100, err, sizeof(err)), 0);
	/* nothing there yet: not an error, not EOF */
	assert_int_equal(tcpframe_recv(&f, sv[0], err, sizeof(err)), 0);
	assert_int_equal(f.eof, 0);
	size_t n = make_stream(s, 3);
	assert_int_equal(write(sv[1], s, n - 2), (ssize_t)(n - 2));
	close(sv[1]);
	assert_int_equal(tcpframe_recv(&f, sv[0], err, sizeof(err)), (int)(n - 2));
	assert_int_equal(take_all(&f, &next), 2);
	err[0] = '\0';
	assert_int_equal(tcpframe_recv(&f, sv[0], err, sizeof(err)), -1);
	if (!f.eof || strcmp(err, "closed by the peer") != 0)
		fail_msg("after EOF: eof %d, reason '%s'", f.eof, err);
	if (tcpframe_pending(&f) != 3)
		fail_msg("%zu bytes of the cut frame pending, expected 3", tcpframe_pending(&f));
	tcpframe_reset(&f);
	assert_int_equal(tcpframe_pending(&f), 0);
	assert_int_equal(f.eof, 0);
	tcpframe_free(&f);
	close(sv[0]);
	/* a read error is an error with a reason, and not EOF */
	assert_int_equal(tcpframe_init(&f, 100, err, sizeof(err)), 0);
	err[0] = '\0';
	assert_int_equal(tcpframe_recv(&f, -1, err, sizeof(err)), -1);
	assert_true(err[0] != '\0');
	assert_int_equal(f.eof, 0);
	tcpframe_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_byte_by_byte), cmocka_unit_test(test_several_in_one),
		cmocka_unit_test(test_oversize),     cmocka_unit_test(test_zero_length),
		cmocka_unit_test(test_eof_mid_frame),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
