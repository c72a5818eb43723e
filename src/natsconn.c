/* natsconn.c: NATS connections and KV buckets; see natsconn.h */
#include "config.h"

#include "natsconn.h"

#include "log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *natsconn_strerror(natsStatus s, char *buf, size_t size)
{
	natsStatus ls = NATS_OK;
	const char *detail = nats_GetLastError(&ls);
	if (detail && *detail && ls == s)
		snprintf(buf, size, "%s (%s)", natsStatus_GetText(s), detail);
	else
		snprintf(buf, size, "%s", natsStatus_GetText(s));
	return buf;
}

static atomic_int closing; /* set while we close on purpose: no warning then */

static void on_disconnected(natsConnection *nc, void *closure)
{
	if (!atomic_load(&closing))
		log_warn("disconnected from NATS, reconnecting in the background");
}

static void on_reconnected(natsConnection *nc, void *closure)
{
	char url[256] = "";
	natsConnection_GetConnectedUrl(nc, url, sizeof(url));
	log_info("reconnected to NATS at '%s'", url);
}

static void on_connected(natsConnection *nc, void *closure)
{
	char url[256] = "";
	natsConnection_GetConnectedUrl(nc, url, sizeof(url));
	log_info("connected to NATS at '%s'", url);
}

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus s, void *closure)
{
	log_warn("NATS asynchronous error: %s", natsStatus_GetText(s));
}

natsConnection *natsconn_open(const char *urls, const char *name, int background,
			      int64_t timeout_ms, char *err, size_t err_size)
{
	natsOptions *opts = NULL;
	natsConnection *nc = NULL;
	natsStatus s;
	char ebuf[256];

	s = natsOptions_Create(&opts);
	if (s == NATS_OK)
		s = natsOptions_SetURL(opts, urls);
	if (s == NATS_OK)
		s = natsOptions_SetName(opts, name);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(opts, timeout_ms);
	if (s == NATS_OK)
		s = natsOptions_SetErrorHandler(opts, on_error, NULL);
	if (s == NATS_OK && background) {
		s = natsOptions_SetMaxReconnect(opts, -1);
		if (s == NATS_OK)
			s = natsOptions_SetReconnectWait(opts, 1000);
		if (s == NATS_OK)
			s = natsOptions_SetRetryOnFailedConnect(opts, true, on_connected, NULL);
		if (s == NATS_OK)
			s = natsOptions_SetDisconnectedCB(opts, on_disconnected, NULL);
		if (s == NATS_OK)
			s = natsOptions_SetReconnectedCB(opts, on_reconnected, NULL);
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
		snprintf(err, err_size, "bad NATS options for '%s': %s", urls,
			 natsconn_strerror(s, ebuf, sizeof(ebuf)));
		natsOptions_Destroy(opts);
		return NULL;
	}
	s = natsConnection_Connect(&nc, opts);
	natsOptions_Destroy(opts);
	if (s == NATS_NOT_YET_CONNECTED && background) {
		log_warn("NATS at '%s' is not reachable yet, retrying in the background", urls);
		return nc;
	}
	if (s != NATS_OK) {
		snprintf(err, err_size, "cannot connect to NATS at '%s': %s", urls,
			 natsconn_strerror(s, ebuf, sizeof(ebuf)));
		natsConnection_Destroy(nc);
		return NULL;
	}
	if (background)
		on_connected(nc, NULL);
	return nc;
}

void natsconn_close(natsConnection *nc)
{
	if (!nc)
		return;
	atomic_store(&closing, 1);
	natsConnection_Close(nc);
	natsConnection_Destroy(nc);
	atomic_store(&closing, 0);
}

int natsconn_kv_open(natsConnection *nc, const char *bucket, int create, int replicas,
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
	jsOptions_Init(&jo);
	jo.Wait = NATSCONN_JS_WAIT_MS;
	s = natsConnection_JetStream(&js, nc, &jo);
	if (s != NATS_OK) {
		snprintf(err, err_size, "cannot use JetStream: %s",
			 natsconn_strerror(s, ebuf, sizeof(ebuf)));
		return -1;
	}
	s = js_KeyValue(&kv, js, bucket);
	if (s == NATS_NOT_FOUND && create) {
		kvConfig kc;
		kvConfig_Init(&kc);
		kc.Bucket = bucket;
		kc.Description = strcmp(bucket, NAMES_NS_BUCKET) == 0
					 ? "recmesh: each node's authoritative-server table"
					 : "recmesh: each node's hot names";
		kc.History = 1;
		kc.StorageType = js_FileStorage;
		kc.Replicas = replicas > 0 ? replicas : 1;
		s = js_CreateKeyValue(&kv, js, &kc);
		if (s == NATS_OK)
			log_info("created KV bucket '%s' (replicas %d)", bucket, kc.Replicas);
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

void natsconn_kv_close(jsCtx *js, kvStore *kv)
{
	if (kv)
		kvStore_Destroy(kv);
	if (js)
		jsCtx_Destroy(js);
}
