/*
 * natsconn.c: NATS connections and KV buckets; see natsconn.h
 *
 * Every secret (password, token, the NKey seed of --nats-nkey and
 * --nats-creds, the TLS client key) is read at start, while the process
 * may still be root, and kept in this module's memory: a node that drops
 * privileges to --user still reconnects with files only root can read, and
 * no secret is ever handed to a function that prints. A reload
 * (natsconn_reload) reads the files again and swaps the credentials under
 * cf_lock: natsconn_open copies them into libnats' options under it, and
 * the JWT and NKey callbacks (libnats' threads, at every connect) take the
 * current JWT copy or a reference to the key under it; the lock is never
 * held across a libnats call that may call back. Replaced secrets are
 * wiped when freed. NKey
 * signatures (the server's nonce) are made here with libcrypto's Ed25519.
 */
#include "config.h"

#include "nats/natsconn.h"
#include "nats/natslink.h"

#include "base/clock.h"
#include "base/log.h"
#include "base/names.h"
#include "base/readfile.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define NATSCONN_FILE_MAX (1024 * 1024) /* a PEM or creds file */

/* ---- pure helpers ------------------------------------------------------ */

/* Where the authority of url (up to '/', '?', ',' or the end) starts and ends */
static const char *authority(const char *url, const char **end)
{
	const char *s = strstr(url, "://");
	const char *comma = strchr(url, ',');
	if (!s || (comma && comma < s))
		s = url;
	else
		s += 3;
	*end = s + strcspn(s, "/?#,");
	return s;
}

char *natsconn_redact(const char *urls, char *buf, size_t size)
{
	size_t o = 0;
	if (!size)
		return buf;
	buf[0] = '\0';
	if (!urls)
		return buf;
	const char *p = urls;
#define PUT(c)                                                                                     \
	do {                                                                                       \
		if (o + 1 < size)                                                                  \
			buf[o++] = (c);                                                            \
	} while (0)
	for (;;) {
		const char *aend, *a = authority(p, &aend);
		const char *at = NULL;
		for (const char *q = a; q < aend; q++)
			if (*q == '@')
				at = q;
		for (const char *q = p; q < a; q++)
			PUT(*q);
		if (at) {
			PUT('*');
			PUT('*');
			PUT('*');
			PUT('@');
			a = at + 1;
		}
		const char *next = strchr(a, ',');
		const char *stop = next ? next : a + strlen(a);
		for (const char *q = a; q < stop; q++)
			PUT(*q);
		if (!next)
			break;
		PUT(',');
		p = next + 1;
	}
#undef PUT
	buf[o] = '\0';
	return buf;
}

int natsconn_has_password(const char *urls)
{
	const char *p = urls;
	while (p && *p) {
		const char *aend, *a = authority(p, &aend);
		if (memchr(a, '@', (size_t)(aend - a)))
			return 1;
		p = strchr(a, ',');
		if (p)
			p++;
	}
	return 0;
}

int natsconn_split(const char *urls, char *store, size_t store_size, const char **out, int max,
		   char *err, size_t err_size)
{
	char shown[NATSCONN_MAX_URL];
	int n = 0;
	if (!urls || !*urls) {
		snprintf(err, err_size, "--nats is empty");
		return -1;
	}
	if (strlen(urls) >= store_size) {
		snprintf(err, err_size, "--nats is longer than %zu bytes", store_size - 1);
		return -1;
	}
	strcpy(store, urls);
	/* by hand: strtok would skip empty items */
	char *p = store;
	for (;;) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma = '\0';
		while (isspace((unsigned char)*p))
			p++;
		char *e = p + strlen(p);
		while (e > p && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (!*p) {
			snprintf(err, err_size, "--nats '%s' has an empty item",
				 natsconn_redact(urls, shown, sizeof(shown)));
			return -1;
		}
		if (n == max) {
			snprintf(err, err_size, "--nats lists more than %d servers", max);
			return -1;
		}
		if (strlen(p) >= NATSCONN_MAX_URL) {
			snprintf(err, err_size, "a --nats URL is longer than %d bytes",
				 NATSCONN_MAX_URL - 1);
			return -1;
		}
		for (const char *q = p; *q; q++)
			if (isspace((unsigned char)*q) || iscntrl((unsigned char)*q)) {
				snprintf(err, err_size,
					 "--nats '%s' has a space or control character in a URL",
					 natsconn_redact(urls, shown, sizeof(shown)));
				return -1;
			}
		const char *sch = strstr(p, "://");
		if (sch && !((sch - p == 4 && !strncasecmp(p, "nats", 4)) ||
			     (sch - p == 3 && !strncasecmp(p, "tls", 3)))) {
			snprintf(err, err_size,
				 "--nats '%s': only nats:// and tls:// URLs are supported",
				 natsconn_redact(urls, shown, sizeof(shown)));
			return -1;
		}
		const char *aend, *a = authority(p, &aend);
		const char *at = memchr(a, '@', (size_t)(aend - a));
		if (aend == a || (at && at + 1 == aend)) {
			snprintf(err, err_size, "--nats '%s' has a URL without a host",
				 natsconn_redact(urls, shown, sizeof(shown)));
			return -1;
		}
		out[n++] = p;
		if (!comma)
			break;
		p = comma + 1;
	}
	return n;
}

enum natsconn_failure natsconn_classify(natsStatus s, const char *detail, int tls)
{
	/*
	 * TLS 1.3: a server that wants a client certificate and got none
	 * completes the handshake, then closes: the client sees no PONG
	 */
	if (tls && s == NATS_PROTOCOL_ERROR && detail && strstr(detail, "got ''"))
		return NATSCONN_TLS;
	if (detail && strcasestr(detail, "permissions violation"))
		return NATSCONN_DENIED;
	if (s == NATS_CONNECTION_AUTH_FAILED)
		return NATSCONN_AUTH;
	if (s == NATS_NOT_PERMITTED)
		return NATSCONN_DENIED;
	if (s == NATS_SSL_ERROR || s == NATS_SECURE_CONNECTION_WANTED ||
	    s == NATS_SECURE_CONNECTION_REQUIRED)
		return NATSCONN_TLS;
	if (detail) {
		if (strcasestr(detail, "authorization") || strcasestr(detail, "authentication"))
			return NATSCONN_AUTH;
		if (strcasestr(detail, "ssl") || strcasestr(detail, "tls") ||
		    strcasestr(detail, "certificate") || strcasestr(detail, "handshake"))
			return NATSCONN_TLS;
	}
	return NATSCONN_UNREACHABLE;
}

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static uint16_t crc16(const unsigned char *p, size_t n)
{
	uint16_t crc = 0;
	for (size_t i = 0; i < n; i++) {
		crc ^= (uint16_t)(p[i] << 8);
		for (int b = 0; b < 8; b++)
			crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
	}
	return crc;
}

/* Base32 without padding; returns the bytes written or -1 */
static int b32_decode(const char *s, unsigned char *out, size_t out_size)
{
	unsigned acc = 0;
	int bits = 0;
	size_t n = 0;
	for (; *s; s++) {
		const char *c = strchr(b32, *s);
		if (!c || !*s)
			return -1;
		acc = (acc << 5) | (unsigned)(c - b32);
		bits += 5;
		if (bits >= 8) {
			if (n == out_size)
				return -1;
			out[n++] = (unsigned char)(acc >> (bits - 8));
			bits -= 8;
		}
		acc &= 0xff;
	}
	if (acc & ((1u << bits) - 1))
		return -1; /* the padding bits must be zero: one spelling per key */
	return (int)n;
}

static void b32_encode(const unsigned char *p, size_t n, char *out)
{
	unsigned acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | p[i];
		bits += 8;
		while (bits >= 5) {
			*out++ = b32[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
		acc &= 0xff;
	}
	if (bits > 0)
		*out++ = b32[(acc << (5 - bits)) & 31];
	*out = '\0';
}

#define NKEY_PREFIX_SEED (18 << 3)
#define NKEY_PREFIX_USER (20 << 3)

/* The 32-byte Ed25519 seed of a user NKey seed string */
static int nkey_seed_raw(const char *seed, unsigned char raw32[32], char *err, size_t err_size)
{
	unsigned char raw[40];
	int n = b32_decode(seed, raw, sizeof(raw));
	if (n != 36) {
		snprintf(err, err_size, "not an NKey seed (expected 58 base32 characters)");
		OPENSSL_cleanse(raw, sizeof(raw)); /* a partial decode is part of the seed */
		return -1;
	}
	uint16_t want = (uint16_t)(raw[34] | raw[35] << 8);
	if (crc16(raw, 34) != want) {
		snprintf(err, err_size, "the NKey seed's checksum is wrong");
		OPENSSL_cleanse(raw, sizeof(raw));
		return -1;
	}
	int prefix = ((raw[0] & 7) << 5) | ((raw[1] & 0xf8) >> 3);
	if ((raw[0] & 0xf8) != NKEY_PREFIX_SEED || prefix != NKEY_PREFIX_USER) {
		snprintf(err, err_size, "not a user NKey seed (it must start with 'SU')");
		OPENSSL_cleanse(raw, sizeof(raw));
		return -1;
	}
	memcpy(raw32, raw + 2, 32);
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

int natsconn_nkey_public(const char *seed, char *pub, size_t pub_size, char *err, size_t err_size)
{
	unsigned char raw32[32], out[35];
	size_t publen = 32;
	if (pub_size < 57) {
		snprintf(err, err_size, "no room for the public key");
		return -1;
	}
	if (nkey_seed_raw(seed, raw32, err, err_size) < 0)
		return -1;
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw32, 32);
	OPENSSL_cleanse(raw32, sizeof(raw32));
	if (!k || EVP_PKEY_get_raw_public_key(k, out + 1, &publen) != 1 || publen != 32) {
		EVP_PKEY_free(k);
		snprintf(err, err_size, "cannot derive the NKey public key");
		return -1;
	}
	EVP_PKEY_free(k);
	out[0] = NKEY_PREFIX_USER;
	uint16_t c = crc16(out, 33);
	out[33] = (unsigned char)(c & 0xff);
	out[34] = (unsigned char)(c >> 8);
	b32_encode(out, sizeof(out), pub);
	return 0;
}

static void scrub(char *text);

const char *natsconn_strerror(natsStatus s, char *buf, size_t size)
{
	natsStatus ls = NATS_OK;
	const char *detail = nats_GetLastError(&ls);
	char shown[NATSCONN_MAX_DETAIL + 1];
	if (detail && *detail && ls == s)
		snprintf(buf, size, "%s (%s)", natsStatus_GetText(s),
			 natsconn_sanitize(detail, shown, sizeof(shown)));
	else
		snprintf(buf, size, "%s", natsStatus_GetText(s));
	scrub(buf);
	return buf;
}

/* ---- the process-wide settings ----------------------------------------- */

/* The credentials: the files' contents, as read at start or by the last reload */
struct creds {
	char *tls_ca_pem, *tls_cert_pem, *tls_key_pem;
	size_t tls_key_len;
	char *user, *password;
	char *token;
	char *jwt;            /* --nats-creds */
	EVP_PKEY *nkey;       /* --nats-creds or --nats-nkey */
	char nkey_public[64]; /* --nats-nkey */
};

/* Guards cf.c against natsconn_reload; held briefly, never across a libnats connect */
static pthread_mutex_t cf_lock = PTHREAD_MUTEX_INITIALIZER;

static struct {
	int set;
	char *urls;
	int tls;        /* a tls:// URL or a TLS file: fixed at start */
	struct creds c; /* read at start, replaced by natsconn_reload (under cf_lock) */
	/* superseded --nats-nkey keys: the closure of connections opened with them */
	EVP_PKEY *retired[NATSCONN_MAX_RETIRED];
	int nretired;
	int replicas; /* 0: automatic */
	int64_t ttl_ms;
	atomic_int url_warned;
} cf;

static void wipe_free(char *p, size_t n)
{
	if (p) {
		OPENSSL_cleanse(p, n);
		free(p);
	}
}

static void creds_free(struct creds *c)
{
	free(c->tls_ca_pem);
	free(c->tls_cert_pem);
	wipe_free(c->tls_key_pem, c->tls_key_len);
	free(c->user);
	if (c->password)
		wipe_free(c->password, strlen(c->password));
	if (c->token)
		wipe_free(c->token, strlen(c->token));
	if (c->jwt)
		wipe_free(c->jwt, strlen(c->jwt));
	EVP_PKEY_free(c->nkey);
	OPENSSL_cleanse(c, sizeof(*c));
}

/* threads that may still use the settings (natsconn_hold) */
static atomic_int holds;

void natsconn_unconfigure(void)
{
	if (atomic_load(&holds) > 0)
		return; /* a connect left behind by a stop may still call back: the process exits anyway */
	free(cf.urls);
	creds_free(&cf.c);
	for (int i = 0; i < cf.nretired; i++)
		EVP_PKEY_free(cf.retired[i]);
	memset(&cf, 0, sizeof(cf));
}

int64_t natsconn_kv_ttl_ms(void)
{
	return cf.ttl_ms;
}

/*
 * Reads a whole file of at most max bytes (NUL-terminated; readfile.h: a
 * regular file only, so a FIFO or /dev/zero never blocks or loops); what
 * names the option
 */
static char *read_file(const char *path, const char *what, size_t max, size_t *len, char *err,
		       size_t err_size)
{
	size_t n;
	char *buf = readfile_regular(path, what, max, &n, NULL, err, err_size);
	if (!buf)
		return NULL;
	if (memchr(buf, '\0', n)) {
		snprintf(err, err_size, "%s '%s' holds a NUL byte", what, path);
		wipe_free(buf, max + 2);
		return NULL;
	}
	if (len)
		*len = n;
	return buf;
}

/* A password or token: one line, the final newline dropped, not empty */
static char *read_secret(const char *path, const char *what, char *err, size_t err_size)
{
	size_t n;
	char *s = read_file(path, what, NATSCONN_SECRET_MAX, &n, err, err_size);
	if (!s)
		return NULL;
	if (n && s[n - 1] == '\n')
		s[--n] = '\0';
	if (n && s[n - 1] == '\r')
		s[--n] = '\0';
	if (!n || strpbrk(s, "\r\n")) {
		snprintf(err, err_size, n ? "%s '%s' has more than one line" : "%s '%s' is empty",
			 what, path);
		wipe_free(s, NATSCONN_SECRET_MAX + 2);
		return NULL;
	}
	return s;
}

static EVP_PKEY *nkey_from_seed(const char *seed, char *err, size_t err_size)
{
	unsigned char raw32[32];
	if (nkey_seed_raw(seed, raw32, err, err_size) < 0)
		return NULL;
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw32, 32);
	OPENSSL_cleanse(raw32, sizeof(raw32));
	if (!k)
		snprintf(err, err_size, "cannot load the NKey seed");
	return k;
}

/* The first line after the line that starts with marker, trimmed; NULL when none */
static char *creds_item(char *text, const char *marker)
{
	char *m = strstr(text, marker);
	if (!m)
		return NULL;
	char *line = strchr(m, '\n');
	while (line && (*line == '\n' || *line == '\r' || *line == ' ' || *line == '\t'))
		line++;
	if (!line || !*line)
		return NULL;
	size_t n = strcspn(line, "\r\n");
	char *v = strndup(line, n);
	return v;
}

/* Reads every credential file of s into c (zeroed); on failure c is left empty */
static int creds_load(struct creds *c, const struct natsconn_settings *s, char *err,
		      size_t err_size)
{
	char e2[256];
	if (s->tls_ca) {
		if (!(c->tls_ca_pem = read_file(s->tls_ca, "--nats-tls-ca", NATSCONN_FILE_MAX, NULL,
						err, err_size)))
			goto fail;
		if (!strstr(c->tls_ca_pem, "-----BEGIN CERTIFICATE-----")) {
			snprintf(err, err_size, "--nats-tls-ca '%s' holds no PEM certificate",
				 s->tls_ca);
			goto fail;
		}
	}
	if (s->tls_cert) {
		if (!(c->tls_cert_pem = read_file(s->tls_cert, "--nats-tls-cert", NATSCONN_FILE_MAX,
						  NULL, err, err_size)) ||
		    !(c->tls_key_pem = read_file(s->tls_key, "--nats-tls-key", NATSCONN_FILE_MAX,
						 &c->tls_key_len, err, err_size)))
			goto fail;
		c->tls_key_len += 2;
		if (!strstr(c->tls_cert_pem, "-----BEGIN CERTIFICATE-----")) {
			snprintf(err, err_size, "--nats-tls-cert '%s' holds no PEM certificate",
				 s->tls_cert);
			goto fail;
		}
		if (!strstr(c->tls_key_pem, "PRIVATE KEY-----")) {
			snprintf(err, err_size, "--nats-tls-key '%s' holds no PEM private key",
				 s->tls_key);
			goto fail;
		}
	}
	if (s->user) {
		if (!*s->user || strlen(s->user) > NATSCONN_SECRET_MAX) {
			snprintf(err, err_size, "--nats-user must have 1 to %d bytes",
				 NATSCONN_SECRET_MAX);
			goto fail;
		}
		if (!(c->user = strdup(s->user)))
			goto oom;
		if (!(c->password =
			      read_secret(s->password_file, "--nats-password-file", err, err_size)))
			goto fail;
	}
	if (s->token_file &&
	    !(c->token = read_secret(s->token_file, "--nats-token-file", err, err_size)))
		goto fail;
	if (s->nkey) {
		char *seed = read_secret(s->nkey, "--nats-nkey", err, err_size);
		if (!seed)
			goto fail;
		char *t = seed;
		while (isspace((unsigned char)*t))
			t++;
		if (natsconn_nkey_public(t, c->nkey_public, sizeof(c->nkey_public), e2,
					 sizeof(e2)) < 0 ||
		    !(c->nkey = nkey_from_seed(t, e2, sizeof(e2)))) {
			wipe_free(seed, strlen(seed));
			snprintf(err, err_size, "--nats-nkey '%s': %s", s->nkey, e2);
			goto fail;
		}
		wipe_free(seed, strlen(seed));
	}
	if (s->creds) {
		size_t len;
		char *text =
			read_file(s->creds, "--nats-creds", NATSCONN_FILE_MAX, &len, err, err_size);
		if (!text)
			goto fail;
		char *seed = creds_item(text, "-----BEGIN USER NKEY SEED");
		c->jwt = creds_item(text, "-----BEGIN NATS USER JWT");
		wipe_free(text, len);
		if (!c->jwt || !seed || !*c->jwt) {
			if (seed)
				wipe_free(seed, strlen(seed));
			snprintf(err, err_size,
				 "--nats-creds '%s' is not a credentials file (a NATS USER JWT "
				 "block and a USER NKEY SEED block)",
				 s->creds);
			goto fail;
		}
		c->nkey = nkey_from_seed(seed, e2, sizeof(e2));
		wipe_free(seed, strlen(seed));
		if (!c->nkey) {
			snprintf(err, err_size, "--nats-creds '%s': %s", s->creds, e2);
			goto fail;
		}
	}
	return 0;
oom:
	snprintf(err, err_size, "out of memory");
fail:
	creds_free(c);
	return -1;
}

int natsconn_configure(const struct natsconn_settings *s, char *err, size_t err_size)
{
	char store[NATSCONN_MAX_SERVERS * NATSCONN_MAX_URL];
	const char *list[NATSCONN_MAX_SERVERS];
	int n, rc = -1;

	natsconn_unconfigure();
	if ((n = natsconn_split(s->urls, store, sizeof(store), list, NATSCONN_MAX_SERVERS, err,
				err_size)) < 0)
		return -1;
	if (s->kv_replicas > NATSCONN_MAX_REPLICAS) {
		snprintf(err, err_size, "--kv-replicas %u is over %d (JetStream's limit)",
			 s->kv_replicas, NATSCONN_MAX_REPLICAS);
		return -1;
	}
	if (!!s->tls_cert != !!s->tls_key) {
		snprintf(err, err_size, "--nats-tls-cert and --nats-tls-key go together");
		return -1;
	}
	if (!!s->user != !!s->password_file) {
		snprintf(err, err_size, "--nats-user and --nats-password-file go together");
		return -1;
	}
	int ways = !!s->creds + !!s->nkey + !!s->user + !!s->token_file;
	if (ways > 1) {
		snprintf(err, err_size,
			 "give one of --nats-creds, --nats-nkey, --nats-user with "
			 "--nats-password-file, --nats-token-file");
		return -1;
	}
	cf.replicas = (int)s->kv_replicas;
	cf.ttl_ms = s->kv_ttl > 0 ? (int64_t)(s->kv_ttl * 1000.0) : 0;
	if (!(cf.urls = strdup(s->urls)))
		goto oom;
	for (int i = 0; i < n; i++)
		if (!strncasecmp(list[i], "tls://", 6))
			cf.tls = 1;
	if (s->tls_ca || s->tls_cert)
		cf.tls = 1;
	if (creds_load(&cf.c, s, err, err_size) < 0)
		goto fail;
	cf.set = 1;
	return 0;
oom:
	snprintf(err, err_size, "out of memory");
fail:
	natsconn_unconfigure();
	return rc;
}

/*
 * Replaces every secret recmesh knows of in text by "***" (library messages
 * may quote them); the search goes on after each replacement, so a secret
 * that is itself "***" ends too
 */
static void scrub_one(char *text, const char *secret, size_t len)
{
	char *p, *from = text;
	if (!secret || len < 3)
		return; /* too short to find without mangling the text */
	while ((p = memmem(from, strlen(from), secret, len))) {
		memcpy(p, "***", 3);
		memmove(p + 3, p + len, strlen(p + len) + 1);
		from = p + 3;
	}
}

static void scrub(char *text)
{
	pthread_mutex_lock(&cf_lock);
	scrub_one(text, cf.c.password, cf.c.password ? strlen(cf.c.password) : 0);
	scrub_one(text, cf.c.token, cf.c.token ? strlen(cf.c.token) : 0);
	pthread_mutex_unlock(&cf_lock);
	for (const char *p = cf.urls; p && *p;) {
		const char *aend, *a = authority(p, &aend), *at = NULL, *colon = NULL;
		for (const char *q = a; q < aend; q++)
			if (*q == '@')
				at = q;
		for (const char *q = a; at && q < at; q++)
			if (*q == ':') {
				colon = q;
				break;
			}
		if (at)
			scrub_one(text, a, (size_t)(at - a));
		if (colon) /* the password alone, too */
			scrub_one(text, colon + 1, (size_t)(at - colon - 1));
		p = strchr(a, ',');
		if (p)
			p++;
	}
}

char *natsconn_sanitize(const char *text, char *buf, size_t size)
{
	size_t i = 0;
	if (!size)
		return buf;
	for (; text && text[i] && i + 1 < size && i < NATSCONN_MAX_DETAIL; i++) {
		unsigned char c = (unsigned char)text[i];
		buf[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	buf[i] = '\0';
	scrub(buf);
	return buf;
}

/* ---- connections ------------------------------------------------------- */

/*
 * libnats before 3.8.0 (nats.c issue 705) base64-encodes the nonce's
 * signature as if it were a string: a signature whose first byte is zero
 * (one login in 256) comes out empty, the CONNECT goes without "sig" and the
 * server refuses the login ("Signature missing", an authentication error;
 * for a node, two in a row make libnats give the connection up). Such a
 * signature is not handed to these versions: the attempt fails here, and
 * natsconn_open (or libnats' reconnect) tries a new connection, whose nonce,
 * and so signature, is new. The counts tell natsconn_open (the initial
 * connect, over every server of the list, runs in its thread).
 */
#define NATSCONN_LIBNATS_SIG_FIXED 0x030800 /* nats_GetVersionNumber of 3.8.0 */
#define NATSCONN_SIGN_TRIES 4               /* a zero byte 4 times in a row: 2^-32 */
static _Thread_local int sig_withheld, sig_sent;

static natsStatus nkey_sign(char **customErrTxt, unsigned char **sig, int *siglen,
			    const char *nonce, void *closure)
{
	/* --nats-nkey: the key the connection was opened with (its public key is fixed in
	 * the options); --nats-creds (closure NULL): the current key, matching user_jwt */
	EVP_PKEY *k = closure;
	if (!k) {
		pthread_mutex_lock(&cf_lock);
		if ((k = cf.c.nkey) && EVP_PKEY_up_ref(k) != 1)
			k = NULL;
		pthread_mutex_unlock(&cf_lock);
	} else if (EVP_PKEY_up_ref(k) != 1) {
		k = NULL;
	}
	if (!k) {
		*customErrTxt = strdup("recmesh: no NKey to sign the server's nonce with");
		return NATS_ERR;
	}
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t n = 64;
	unsigned char *out = malloc(64);
	if (!ctx || !out || EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) != 1 ||
	    EVP_DigestSign(ctx, out, &n, (const unsigned char *)nonce, strlen(nonce)) != 1) {
		EVP_MD_CTX_free(ctx);
		free(out);
		EVP_PKEY_free(k);
		*customErrTxt = strdup("recmesh: cannot sign the server's nonce with the NKey");
		return NATS_ERR;
	}
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	if (n > 0 && out[0] == 0 && nats_GetVersionNumber() < NATSCONN_LIBNATS_SIG_FIXED) {
		free(out);
		sig_withheld++;
		*customErrTxt = strdup("recmesh: the signature of the server's nonce starts with a "
				       "zero byte, which this libnats would not send");
		return NATS_ERR;
	}
	sig_sent++;
	*sig = out;
	*siglen = (int)n;
	return NATS_OK;
}

static natsStatus user_jwt(char **jwt, char **customErrTxt, void *closure)
{
	pthread_mutex_lock(&cf_lock);
	*jwt = cf.c.jwt ? strdup(cf.c.jwt) : NULL;
	pthread_mutex_unlock(&cf_lock);
	if (!*jwt) {
		*customErrTxt = strdup("recmesh: out of memory");
		return NATS_NO_MEMORY;
	}
	return NATS_OK;
}

#define NATSCONN_RECONNECT_WAIT_MS 1000

/*
 * The callbacks: their closure is the connection's record (struct
 * natslink_conn), whose link decides what is news; they never log.
 */
static void on_disconnected(natsConnection *nc, void *closure)
{
	/* a close on purpose also calls this, on libnats' thread, maybe later */
	if (!natsConnection_IsClosed(nc) && natslink_conn_disconnected(closure))
		natslink_say(natslink_conn_link(closure), LOG_LVL_WARN,
			     "disconnected from NATS, reconnecting in the background");
}

static void say_connected(struct natslink *l, natsConnection *nc, const char *how)
{
	char url[NATSCONN_MAX_URL] = "", shown[NATSCONN_MAX_URL];
	natsConnection_GetConnectedUrl(nc, url, sizeof(url));
	natslink_connected(l);
	natslink_say(l, LOG_LVL_INFO, "%s to NATS at '%s'", how, natsconn_redact(url, shown, sizeof(shown)));
}

/*
 * libnats gives a connection up for good after the same server refused the
 * credentials twice in a row; the publisher then opens a new one with
 * backoff (natsconn_reopen_delay). Said once until connected again. The
 * last callback libnats makes for nc: it drops nc's reference to the link.
 */
static void on_closed(natsConnection *nc, void *closure)
{
	struct natslink_conn *c = closure;
	struct natslink *l = natslink_conn_link(c);
	/*
	 * The callback runs on libnats' thread, maybe after natsconn_close
	 * returned; libnats reports "no server available" then. Only a close
	 * after a refusal that was not followed by a connect is news.
	 */
	const char *detail = NULL;
	natsStatus ls = natsConnection_GetLastError(nc, &detail);
	natslink_say(l, LOG_LVL_DEBUG, "NATS connection closed: %s", natsStatus_GetText(ls));
	int f = natslink_conn_closed(c);
	if (f >= 0)
		natslink_say(l, LOG_LVL_ERR,
			     "the NATS connection was closed (%s): this node opens a new one in the "
			     "background, after %g s and backing off to %g s; the data path goes on "
			     "meanwhile; fix the credentials or the TLS settings",
			     f == NATSCONN_AUTH ? "the server refused the credentials" : "TLS failed",
			     NATSCONN_REOPEN_MIN, NATSCONN_REOPEN_MAX);
	natslink_conn_drop(c); /* libnats' reference to the record */
}

double natsconn_reopen_delay(unsigned failures, double r)
{
	double d = NATSCONN_REOPEN_MIN;
	for (unsigned i = 0; i < failures && d < NATSCONN_REOPEN_MAX; i++)
		d *= 2;
	if (d > NATSCONN_REOPEN_MAX)
		d = NATSCONN_REOPEN_MAX;
	if (!(r >= 0 && r <= 1)) /* also NaN */
		r = 0.5;
	d *= 1 - NATSCONN_REOPEN_JITTER + 2 * NATSCONN_REOPEN_JITTER * r;
	return d > NATSCONN_REOPEN_MAX ? NATSCONN_REOPEN_MAX : d;
}

static void on_reconnected(natsConnection *nc, void *closure)
{
	say_connected(natslink_conn_link(closure), nc, "reconnected");
}

static void on_connected(natsConnection *nc, void *closure)
{
	say_connected(natslink_conn_link(closure), nc, "connected");
}

static const char *failure_text(enum natsconn_failure f)
{
	return f == NATSCONN_AUTH  ? "the server refused the credentials (authorization violation)"
	       : f == NATSCONN_TLS ? "TLS failed"
	       : f == NATSCONN_DENIED
		       ? "the server denied a subject to these credentials (permissions violation)"
		       : "not reachable";
}

static const char *failure_hint(enum natsconn_failure f)
{
	return f == NATSCONN_AUTH
		       ? ": check --nats-user/--nats-password-file, --nats-token-file, --nats-nkey "
			 "or --nats-creds and the server's authorization block"
	       : f == NATSCONN_TLS
		       ? ": check --nats-tls-ca (the CA that signed the server's certificate), "
			 "--nats-tls-cert/--nats-tls-key (when the server verifies clients) and "
			 "tls:// in --nats"
	       : f == NATSCONN_DENIED
		       ? ": the user's permissions lack a subject recmesh needs (doc/nats.md lists "
			 "them)"
		       : "";
}

/*
 * Says a refused login or a TLS failure once per kind (until connected
 * again); returns what the failure was
 */
static enum natsconn_failure report_failure(struct natslink *l, natsConnection *nc, natsStatus s)
{
	const char *detail = NULL;
	if (nc)
		natsConnection_GetLastError(nc, &detail);
	enum natsconn_failure f = natsconn_classify(s, detail, cf.tls);
	if (natslink_failed(l, f)) {
		char shown[NATSCONN_MAX_URL];
		natslink_say(l, LOG_LVL_ERR, "cannot connect to NATS at '%s': %s%s",
			     natsconn_redact(cf.urls, shown, sizeof(shown)), failure_text(f),
			     failure_hint(f));
	}
	return f;
}

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus s, void *closure)
{
	struct natslink *l = natslink_conn_link(closure);
	const char *detail = NULL;
	natsConnection_GetLastError(nc, &detail);
	enum natsconn_failure f = natsconn_classify(s, detail, cf.tls);
	if (f == NATSCONN_DENIED) {
		/* the server's text names the subject; said once per link */
		char shown[NATSCONN_MAX_DETAIL + 1];
		if (natslink_denied_by(l, detail))
			natslink_say(l, LOG_LVL_ERR, "NATS: %s: %s%s", failure_text(f),
				     natsconn_sanitize(detail, shown, sizeof(shown)), failure_hint(f));
		return;
	}
	if (f != NATSCONN_UNREACHABLE) {
		(void)report_failure(l, nc, s);
		return;
	}
	natslink_say(l, LOG_LVL_WARN, "NATS asynchronous error: %s", natsStatus_GetText(s));
}

/* libnats copies the TLS files, user, password and token into opts; NKey and JWT are callbacks */
static natsStatus set_security(natsOptions *opts, int tls)
{
	natsStatus s = NATS_OK;
	if (tls)
		s = natsOptions_SetSecure(opts, true);
	pthread_mutex_lock(&cf_lock);
	const struct creds *c = &cf.c;
	if (s == NATS_OK && c->tls_ca_pem)
		s = natsOptions_SetCATrustedCertificates(opts, c->tls_ca_pem);
	if (s == NATS_OK && c->tls_cert_pem)
		s = natsOptions_SetCertificatesChain(opts, c->tls_cert_pem, c->tls_key_pem);
	if (s == NATS_OK && c->user)
		s = natsOptions_SetUserInfo(opts, c->user, c->password);
	if (s == NATS_OK && c->token)
		s = natsOptions_SetToken(opts, c->token);
	if (s == NATS_OK && c->jwt)
		s = natsOptions_SetUserCredentialsCallbacks(opts, user_jwt, NULL, nkey_sign, NULL);
	else if (s == NATS_OK && c->nkey) /* kept (retired) until natsconn_unconfigure */
		s = natsOptions_SetNKey(opts, c->nkey_public, nkey_sign, c->nkey);
	pthread_mutex_unlock(&cf_lock);
	return s;
}

int natsconn_reload(const struct natsconn_settings *s, char *err, size_t err_size)
{
	struct creds n = {0}, old;
	if (!cf.set) {
		snprintf(err, err_size, "NATS is not configured");
		return -1;
	}
	if (creds_load(&n, s, err, err_size) < 0)
		return -1;
	pthread_mutex_lock(&cf_lock);
	int nkey_only = cf.c.nkey && !cf.c.jwt;
	if (nkey_only && !strcmp(cf.c.nkey_public, n.nkey_public)) {
		/* the same key: keep the one open connections sign with */
		EVP_PKEY_free(n.nkey);
		n.nkey = cf.c.nkey;
		cf.c.nkey = NULL;
	} else if (nkey_only) {
		if (cf.nretired == NATSCONN_MAX_RETIRED) {
			pthread_mutex_unlock(&cf_lock);
			creds_free(&n);
			snprintf(
				err, err_size,
				"the NKey was replaced %d times since start: restart to replace it "
				"again",
				NATSCONN_MAX_RETIRED);
			return -1;
		}
		cf.retired[cf.nretired++] = cf.c.nkey;
		cf.c.nkey = NULL;
	}
	old = cf.c;
	cf.c = n;
	pthread_mutex_unlock(&cf_lock);
	creds_free(&old);
	return 0;
}

/*
 * libnats' options for a connection to urls (NULL: the configured list),
 * with the servers counted in *nservers, whether TLS is used in *tls and
 * the list as it may be shown in shown; no network. Returns NULL with a
 * reason in err.
 */
static natsOptions *make_options(struct natslink *l, const char *urls, const char *name, int background,
				 int64_t timeout_ms, char *shown, size_t shown_size, int *nservers,
				 int *tls_out, char *err, size_t err_size)
{
	natsOptions *opts = NULL;
	natsStatus s;
	char ebuf[512];
	const char *list[NATSCONN_MAX_SERVERS];
	int n, tls = 0;

	if (!cf.set) {
		struct natsconn_settings d = {.urls = urls};
		if (natsconn_configure(&d, err, err_size) < 0)
			return NULL;
	}
	if (!urls)
		urls = cf.urls;
	char *store = malloc(NATSCONN_MAX_SERVERS * NATSCONN_MAX_URL);
	if (!store) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	n = natsconn_split(urls, store, NATSCONN_MAX_SERVERS * NATSCONN_MAX_URL, list,
			   NATSCONN_MAX_SERVERS, err, err_size);
	if (n < 0) {
		free(store);
		return NULL;
	}
	natsconn_redact(urls, shown, shown_size);
	/* a setting's warning: said once per process, by the first owner to connect */
	if (l && natsconn_has_password(urls) && !atomic_exchange(&cf.url_warned, 1))
		natslink_say(l, LOG_LVL_WARN, "the password or token in --nats '%s' shows in ps: use --nats-user with "
			 "--nats-password-file, or --nats-token-file",
			 shown);
	for (int i = 0; i < n; i++)
		if (!strncasecmp(list[i], "tls://", 6))
			tls = 1;
	s = natsOptions_Create(&opts);
	if (s == NATS_OK)
		s = natsOptions_SetServers(opts, list, n);
	free(store);
	if (s == NATS_OK)
		s = natsOptions_SetNoRandomize(opts, false);
	if (s == NATS_OK)
		s = set_security(opts, tls || cf.tls);
	if (s == NATS_OK)
		s = natsOptions_SetName(opts, name);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(opts, timeout_ms);
	if (s == NATS_OK && background) {
		s = natsOptions_SetMaxReconnect(opts, -1);
		if (s == NATS_OK)
			s = natsOptions_SetReconnectWait(opts, NATSCONN_RECONNECT_WAIT_MS);
		/* retrying a failed connect in the background, and the callbacks: set_callbacks */
		/* find a dead server within seconds, not minutes */
		if (s == NATS_OK)
			s = natsOptions_SetPingInterval(opts, 5000);
		if (s == NATS_OK)
			s = natsOptions_SetMaxPingsOut(opts, 2);
		/* what is published while NATS is away is buffered up to this, then dropped */
		if (s == NATS_OK)
			s = natsOptions_SetReconnectBufSize(opts, 8 * 1024 * 1024);
	} else if (s == NATS_OK) {
		s = natsOptions_SetAllowReconnect(opts, false);
	}
	if (s != NATS_OK) {
		snprintf(err, err_size, "bad NATS options for '%s': %s", shown,
			 natsconn_strerror(s, ebuf, sizeof(ebuf)));
		natsOptions_Destroy(opts);
		return NULL;
	}
	*nservers = n;
	*tls_out = tls;
	return opts;
}

/*
 * The callbacks of the next connect, with c (the connection's record) as
 * their closure: every connection has the error and the closed callback,
 * a background one those of its reconnects too
 */
static natsStatus set_callbacks(natsOptions *opts, struct natslink_conn *c, int background)
{
	natsStatus s = natsOptions_SetErrorHandler(opts, on_error, c);
	if (s == NATS_OK)
		s = natsOptions_SetClosedCB(opts, on_closed, c);
	if (s == NATS_OK && background)
		s = natsOptions_SetRetryOnFailedConnect(opts, true, on_connected, c);
	if (s == NATS_OK && background)
		s = natsOptions_SetDisconnectedCB(opts, on_disconnected, c);
	if (s == NATS_OK && background)
		s = natsOptions_SetReconnectedCB(opts, on_reconnected, c);
	return s;
}

int natsconn_check(const char *urls, char *err, size_t err_size)
{
	char shown[NATSCONN_MAX_URL];
	int n, tls;
	natsOptions *opts = make_options(NULL, urls, "check", 1, 2000, shown, sizeof(shown), &n, &tls, err, err_size);
	natsOptions_Destroy(opts);
	return opts ? 0 : -1;
}

void natsconn_hold(void)
{
	atomic_fetch_add(&holds, 1);
}

void natsconn_release(void)
{
	atomic_fetch_sub(&holds, 1);
}

int natsconn_wait_released(double timeout)
{
	struct timespec ts = {0, 5 * 1000 * 1000};
	double end = clock_mono() + timeout;
	while (atomic_load(&holds) > 0) {
		if (clock_mono() >= end)
			return 0;
		nanosleep(&ts, NULL);
	}
	return 1;
}

natsConnection *natsconn_open(struct natslink *l, const char *urls, const char *name, int background,
			      int64_t timeout_ms, char *err, size_t err_size)
{
	natsOptions *opts;
	natsConnection *nc = NULL;
	natsStatus s;
	char ebuf[512], shown[NATSCONN_MAX_URL];
	int n, tls;

	if (!(opts = make_options(l, urls, name, background, timeout_ms, shown, sizeof(shown), &n, &tls,
				  err, err_size)))
		return NULL;
	int tries = 0;
	for (;;) {
		sig_withheld = sig_sent = 0;
		/*
		 * The connection's record, freed by on_closed (and this function:
		 * natslink_conn_new). A connect that fails here gives no
		 * connection back and, but for a background one, makes no callback (libnats reads the server's answers to
		 * the connect in this thread, and releases the connection without
		 * a closed callback): its record is freed at once. A background
		 * connect that fails here (no memory, no thread for libnats'
		 * reconnects) may have posted its closed callback: the record is
		 * left to it.
		 */
		struct natslink_conn *c = natslink_conn_new(l, background);
		int tried = 0;
		s = c ? set_callbacks(opts, c, background) : NATS_NO_MEMORY;
		if (s == NATS_OK) {
			tried = 1;
			s = natsConnection_Connect(&nc, opts);
		}
		if (s == NATS_OK || s == NATS_NOT_YET_CONNECTED) {
			natslink_conn_attach(c, nc);
		} else {
			if (!background || !tried)
				natslink_conn_drop(c); /* no callback will come: libnats' too */
			nc = NULL;
		}
		natslink_conn_drop(c); /* ours */
		/* a background connection retries by itself (libnats' reconnect) */
		if (s == NATS_OK || !sig_withheld || background || ++tries == NATSCONN_SIGN_TRIES)
			break;
		natslink_say(l, LOG_LVL_DEBUG,
			     "NATS at '%s': the nonce's signature started with a zero byte, "
			     "opening a new connection",
			     shown);
		natsConnection_Destroy(nc);
		nc = NULL;
	}
	natsOptions_Destroy(opts);
	/* (with a server list, one server given a signature decides what failed) */
	if (s != NATS_OK && sig_withheld && !sig_sent && !background) {
		snprintf(err, err_size,
			 "cannot connect to NATS at '%s': the signature of the server's nonce "
			 "started with a zero byte on %d connections in a row, which libnats %s "
			 "cannot send (libnats 3.8.0 or later can)",
			 shown, tries, nats_GetVersion());
		natsConnection_Destroy(nc);
		return NULL;
	}
	if (s == NATS_NOT_YET_CONNECTED && background) {
		/*
		 * A refusal is logged as what it is (and on_closed says if libnats
		 * gives up). "Not reachable" waits for libnats' next try
		 * (natsconn_tick): the reason can be gone already.
		 */
		if (sig_withheld && !sig_sent) /* all a new nonce needs is the next try */
			natslink_say(l, LOG_LVL_DEBUG,
				     "NATS at '%s': the nonce's signature started with a zero byte, "
				     "retrying in the background",
				     shown);
		else if (report_failure(l, nc, s) == NATSCONN_UNREACHABLE)
			/* libnats tries each server of the list in turn: a round of them */
			natslink_unreach_due(l, shown,
					     clock_mono() +
						     n * (double)(timeout_ms + NATSCONN_RECONNECT_WAIT_MS) / 1000 +
						     1);
		return nc;
	}
	if (s != NATS_OK) {
		natsStatus ls = NATS_OK;
		const char *detail = nats_GetLastError(&ls);
		enum natsconn_failure f = natsconn_classify(s, detail, tls || cf.tls);
		snprintf(err, err_size, "cannot connect to NATS at '%s': %s%s (%s)", shown,
			 failure_text(f), failure_hint(f),
			 natsconn_strerror(s, ebuf, sizeof(ebuf)));
		natsConnection_Destroy(nc);
		return NULL;
	}
	if (background)
		say_connected(l, nc, "connected");
	return nc;
}

void natsconn_tick(struct natslink *l, natsConnection *nc, double now)
{
	char shown[NATSLINK_LINE_MAX / 2];
	if (natslink_tick(l, nc && natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED, now, shown,
			  sizeof(shown)))
		natslink_say(l, LOG_LVL_WARN, "NATS at '%s' is not reachable yet, retrying in the background",
			     shown);
}

void natsconn_close(struct natslink *l, natsConnection *nc)
{
	if (!nc)
		return;
	natslink_closing(l, nc);
	natsConnection_Close(nc);
	natsConnection_Destroy(nc);
}

/* ---- buckets ----------------------------------------------------------- */

/* 1 when the stream behind bucket lives on a clustered JetStream, 0 when not, -1 unknown */
static int bucket_clustered(jsCtx *js, const char *bucket)
{
	char stream[128];
	jsStreamInfo *si = NULL;
	snprintf(stream, sizeof(stream), "KV_%s", bucket);
	if (js_GetStreamInfo(&si, js, stream, NULL, NULL) != NATS_OK || !si)
		return -1;
	int r = si->Cluster && si->Cluster->Name && *si->Cluster->Name;
	jsStreamInfo_Destroy(si);
	return r;
}

/* Says once per bucket and link what differs from what recmesh asks */
static void check_bucket(struct natslink *l, jsCtx *js, kvStore *kv, const char *bucket, int replicas)
{
	unsigned once = strcmp(bucket, NAMES_NS_BUCKET) == 0 ? NATSLINK_ONCE_NS_BUCKET : NATSLINK_ONCE_HOT_BUCKET;
	kvStatus *st = NULL;
	char diff[512] = "";
	size_t o = 0;
	if (!l || natslink_said(l, once) || kvStore_Status(&st, kv) != NATS_OK || !st)
		return;
	int want_r = replicas > 0 ? replicas : 0;
	if (!want_r && kvStatus_Replicas(st) < NATSCONN_AUTO_REPLICAS &&
	    bucket_clustered(js, bucket) == 1)
		want_r = NATSCONN_AUTO_REPLICAS;
	if (want_r && kvStatus_Replicas(st) != want_r)
		o += (size_t)snprintf(diff + o, sizeof(diff) - o, "%sreplicas %d (want %d)",
				      o ? ", " : "", (int)kvStatus_Replicas(st), want_r);
	if (kvStatus_History(st) != 1 && o < sizeof(diff))
		o += (size_t)snprintf(diff + o, sizeof(diff) - o, "%shistory %lld (want 1)",
				      o ? ", " : "", (long long)kvStatus_History(st));
	int64_t ttl_ms = kvStatus_TTL(st) / 1000000; /* the stream's max age, in ns */
	if (ttl_ms != cf.ttl_ms && o < sizeof(diff))
		o += (size_t)snprintf(diff + o, sizeof(diff) - o, "%sTTL %lld s (want %lld s)",
				      o ? ", " : "", (long long)(ttl_ms / 1000),
				      (long long)(cf.ttl_ms / 1000));
	kvStatus_Destroy(st);
	if (!o)
		return;
	if (natslink_say(l, LOG_LVL_WARN,
		"KV bucket '%s' exists with other settings: %s; recmesh uses it as it is. To fix: "
		"change the stream 'KV_%s' to num_replicas %d, max_msgs_per_subject 1, max_age %lld s "
		"(nats stream edit KV_%s), or delete the bucket while the nodes are stopped "
		"(nats kv del %s) and let the first node create it",
		bucket, diff, bucket, want_r ? want_r : 1, (long long)(cf.ttl_ms / 1000), bucket,
		bucket))
		natslink_once(l, once); /* said: not again on this link */
}

/* Replicas 3 failed because the JetStream is a single server or too small a cluster */
static int replicas_unsupported(natsStatus s)
{
	natsStatus ls = NATS_OK;
	const char *d = nats_GetLastError(&ls);
	return s != NATS_OK && d &&
	       (strcasestr(d, "non-clustered") || strcasestr(d, "insufficient resources"));
}

int natsconn_kv_open(struct natslink *l, natsConnection *nc, const char *bucket, int create, int replicas,
		     jsCtx **js_out, kvStore **kv_out, int *missing, int *no_js, char *err,
		     size_t err_size)
{
	jsOptions jo;
	jsCtx *js = NULL;
	kvStore *kv = NULL;
	natsStatus s;
	char ebuf[256];

	if (missing)
		*missing = 0;
	if (no_js)
		*no_js = 0;
	if (replicas <= 0)
		replicas = cf.replicas;
	jsOptions_Init(&jo);
	jo.Wait = NATSCONN_JS_WAIT_MS;
	s = natsConnection_JetStream(&js, nc, &jo);
	if (s != NATS_OK) {
		snprintf(err, err_size, "cannot use JetStream: %s",
			 natsconn_strerror(s, ebuf, sizeof(ebuf)));
		return -1;
	}
	s = js_KeyValue(&kv, js, bucket);
	if (s == NATS_OK && create)
		check_bucket(l, js, kv, bucket, replicas);
	if (s == NATS_NOT_FOUND && create) {
		kvConfig kc;
		kvConfig_Init(&kc);
		kc.Bucket = bucket;
		kc.Description = strcmp(bucket, NAMES_NS_BUCKET) == 0
					 ? "recmesh: each node's authoritative-server table"
					 : "recmesh: each node's hot names";
		kc.History = 1;
		kc.StorageType = js_FileStorage;
		kc.TTL = cf.ttl_ms * 1000000; /* nanoseconds, as the stream's max age */
		kc.Replicas = replicas > 0 ? replicas : NATSCONN_AUTO_REPLICAS;
		s = js_CreateKeyValue(&kv, js, &kc);
		if (replicas <= 0 && replicas_unsupported(s)) {
			/* a single server (or a cluster of fewer than 3): one replica */
			kc.Replicas = 1;
			s = js_CreateKeyValue(&kv, js, &kc);
		}
		if (s == NATS_OK)
			natslink_say(l, LOG_LVL_INFO, "created KV bucket '%s' (replicas %d, keys expire after %lld s "
				 "without a write%s)",
				 bucket, kc.Replicas, (long long)(cf.ttl_ms / 1000),
				 cf.ttl_ms ? "" : ": never");
	}
	if (s != NATS_OK) {
		if (s == NATS_NOT_FOUND && missing)
			*missing = 1;
		if ((s == NATS_NO_RESPONDERS || s == NATS_TIMEOUT) && no_js)
			*no_js = 1;
		snprintf(err, err_size, "cannot open KV bucket '%s': %s%s", bucket,
			 natsconn_strerror(s, ebuf, sizeof(ebuf)),
			 s == NATS_NO_RESPONDERS ? " (is JetStream enabled on the server?)" : "");
		jsCtx_Destroy(js);
		return -1;
	}
	*js_out = js;
	*kv_out = kv;
	return 0;
}

size_t natsconn_kv_chunk_max(int64_t max_payload)
{
	const size_t margin = 4096;
	size_t chunk = max_payload > 0 ? (size_t)max_payload - (max_payload > 8 * (int64_t)margin
									 ? margin
									 : (size_t)max_payload / 8)
				       : 1024 * 1024 - margin;
	return chunk < 2048 ? 2048 : chunk;
}

void natsconn_kv_close(jsCtx *js, kvStore *kv)
{
	if (kv)
		kvStore_Destroy(kv);
	if (js)
		jsCtx_Destroy(js);
}
