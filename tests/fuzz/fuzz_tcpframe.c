/*
 * fuzz_tcpframe.c: libFuzzer harness for src/tcpframe.c, the reader of
 * length-prefixed frames on TCP streams (DNS over TCP, the Recursor's
 * protobuf stream).
 *
 * The first two input octets give the frame limit, the third seeds the
 * chunk sizes; the rest is the stream. It reaches the reader in chunks of
 * pseudo-random sizes, through tcpframe_feed and, every other chunk,
 * through a socket pair and tcpframe_recv. Checked: the frames handed out,
 * each with its 2-octet length in front, are exactly the stream's octets
 * in order; the reader refuses only a frame over the limit; at the end the
 * pending count is what is left of the stream.
 */
#include "config.h"

#include "fuzz.h"

#include "net/tcpframe.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int sv[2] = {-1, -1};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tcpframe f;
	char err[128];
	if (size < 3)
		return 0;
	size_t max_frame = (((size_t)data[0] << 8) | data[1]) % TCPFRAME_MAX + 1;
	uint32_t rnd = data[2] * 2654435761u + 1;
	const uint8_t *s = data + 3;
	size_t len = size - 3, in = 0, out = 0;
	int chunk = 0, refused = 0;

	FUZZ_CHECK(tcpframe_init(&f, max_frame, err, sizeof(err)) == 0, "init %zu: %s", max_frame, err);
	while (!refused) {
		/* one chunk in */
		if (in < len) {
			rnd ^= rnd << 13;
			rnd ^= rnd >> 17;
			rnd ^= rnd << 5;
			size_t want = 1 + rnd % (rnd & 0x100 ? 2048 : 16);
			if (want > len - in)
				want = len - in;
			size_t took;
			if (chunk++ % 2 == 0) {
				took = tcpframe_feed(&f, s + in, want);
			} else {
				ssize_t w = write(sv[0], s + in, want);
				FUZZ_CHECK(w > 0, "socket pair write of %zu", want);
				int r = tcpframe_recv(&f, sv[1], err, sizeof(err));
				FUZZ_CHECK(r >= 0, "recv: %s", err);
				took = (size_t)r;
				/* what recv left in the socket is read back into the stream position */
				char junk[4096];
				while (read(sv[1], junk, sizeof(junk)) > 0)
					;
			}
			FUZZ_CHECK(took <= want, "took %zu of %zu", took, want);
			in += took;
		}
		/* every complete frame out */
		uint8_t *frame;
		size_t flen;
		int r, got = 0;
		while ((r = tcpframe_next(&f, &frame, &flen, err, sizeof(err))) == 1) {
			FUZZ_CHECK(flen <= max_frame && out + 2 + flen <= in, "frame of %zu at %zu, %zu in", flen, out, in);
			FUZZ_CHECK((((size_t)s[out] << 8) | s[out + 1]) == flen && memcmp(frame, s + out + 2, flen) == 0,
				   "frame at %zu is not the stream's", out);
			memset(frame, 0xa5, flen); /* writable, ours until the next call */
			out += 2 + flen;
			got++;
		}
		if (r < 0) {
			FUZZ_CHECK(in - out >= 2 && (((size_t)s[out] << 8) | s[out + 1]) > max_frame,
				   "refused a frame within the limit: %s", err);
			refused = 1;
			break;
		}
		FUZZ_CHECK(tcpframe_pending(&f) == in - out, "pending %zu, %zu unread", tcpframe_pending(&f), in - out);
		if (in == len && got == 0)
			break;
	}
	if (!refused) {
		/* what is left is less than one frame */
		size_t left = len - out;
		FUZZ_CHECK(left < 2 || left < 2 + (((size_t)s[out] << 8) | s[out + 1]), "%zu octets left unread", left);
	}
	tcpframe_reset(&f);
	FUZZ_CHECK(tcpframe_pending(&f) == 0, "pending after reset");
	tcpframe_free(&f);
	return 0;
}
