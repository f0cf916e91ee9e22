/* zap.c: the CURVE server authenticating its clients. ZeroMQ asks a ZAP
 * handler (RFC 27: a REP socket bound to inproc://zeromq.zap.01 in the
 * server's context) about every handshake; this one answers 200 for CURVE
 * clients whose public key is on an allow-list file and 400 for all others.
 * It runs on its own small thread because libzmq's I/O thread waits for the
 * answer while the publisher's thread must never block. */
#include "acquisition.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_POLL_MS 50      /* how soon destroy is noticed */
#define ZAP_FRAMES 8        /* version, id, domain, address, identity, mechanism, key, spare */
#define ZAP_FRAME_MAX 256   /* longer frames are truncated: none of ours needs more */

struct acq_zap {
    void *socket;
    uint8_t *keys; /* count × 32 bytes */
    size_t count;
    pthread_t thread;
    atomic_int stop;
    atomic_uint_fast64_t accepted, refused;
};

/* ---- the allow-list file ------------------------------------------------ */

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* One line: blank, a comment (first non-space '#'), or a key optionally
 * followed by whitespace and a '#' comment ('#' is a Z85 character, so a
 * comment after a key needs the space). 1 with raw[] set for a key, 0 for
 * nothing, -1 for anything else. */
static int parse_line(const char *s, size_t n, uint8_t raw[32])
{
    size_t i = 0;
    while (i < n && is_space(s[i]))
        i++;
    if (i == n || s[i] == '#')
        return 0;
    size_t start = i;
    while (i < n && !is_space(s[i]))
        i++;
    size_t len = i - start;
    while (i < n && is_space(s[i]))
        i++;
    if (len != 40 || (i < n && s[i] != '#'))
        return -1;
    char key[41];
    memcpy(key, s + start, 40);
    key[40] = 0;
    if (memchr(key, 0, 40))
        return -1;
    return zmq_z85_decode(raw, key) ? 1 : -1;
}

int acq_curve_allow_parse(const char *text, size_t size, const char *name, uint8_t **keys,
                          size_t *count, char *err)
{
    *keys = NULL;
    *count = 0;
    size_t capacity = 0, line = 0;
    for (size_t at = 0; at < size;) {
        const char *end = memchr(text + at, '\n', size - at);
        size_t n = end ? (size_t)(end - (text + at)) : size - at;
        uint8_t raw[32];
        int kind = parse_line(text + at, n, raw);
        line++;
        at += n + 1;
        if (kind < 0) {
            acq_fail(err, "%s:%zu: not a 40-character Z85 CURVE public key", name, line);
            goto fail;
        }
        if (kind == 0)
            continue;
        if (grow_array(keys, &capacity, *count + 1, 32, 8)) {
            acq_fail(err, "%s: out of memory", name);
            goto fail;
        }
        memcpy(*keys + 32 * (*count)++, raw, 32);
    }
    if (*count == 0) {
        /* Refusing everyone is never what an empty file meant. */
        acq_fail(err, "%s: no client keys (one Z85 public key a line)", name);
        goto fail;
    }
    return 0;
fail:
    free(*keys);
    *keys = NULL;
    *count = 0;
    return 1;
}

static int read_allow_file(const char *path, uint8_t **keys, size_t *count, char *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return acq_fail(err, "%s: cannot open the CURVE client list", path);
    char *text = NULL;
    size_t size = 0, capacity = 0, got;
    do {
        /* Up to 64 MiB: far beyond any list of keys. */
        if (size == capacity &&
            (capacity >= (64u << 20) || grow_array(&text, &capacity, size + 1, 1, 4096))) {
            free(text);
            fclose(f);
            return acq_fail(err, "%s: too large for a CURVE client list", path);
        }
        got = fread(text + size, 1, capacity - size, f);
        size += got;
    } while (got > 0);
    fclose(f);
    int rc = acq_curve_allow_parse(text, size, path, keys, count, err);
    free(text);
    return rc;
}

/* ---- the handler thread ------------------------------------------------- */

typedef struct zap_request {
    char frame[ZAP_FRAMES][ZAP_FRAME_MAX];
    size_t size[ZAP_FRAMES];
    int frames; /* as many as arrived, even beyond ZAP_FRAMES */
} zap_request;

static int receive_request(void *socket, zap_request *q)
{
    q->frames = 0;
    int more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, socket, 0) < 0) {
            zmq_msg_close(&m);
            return 1;
        }
        if (q->frames < ZAP_FRAMES) {
            size_t n = zmq_msg_size(&m);
            n = n > ZAP_FRAME_MAX ? ZAP_FRAME_MAX : n;
            memcpy(q->frame[q->frames], zmq_msg_data(&m), n);
            q->size[q->frames] = zmq_msg_size(&m);
        }
        q->frames++;
        more = zmq_msg_more(&m);
        zmq_msg_close(&m);
    }
    return 0;
}

static int frame_is(const zap_request *q, int i, const char *s)
{
    return q->frames > i && q->size[i] == strlen(s) && !memcmp(q->frame[i], s, strlen(s));
}

static int key_allowed(const acq_zap *z, const uint8_t *key)
{
    for (size_t i = 0; i < z->count; i++)
        if (!memcmp(z->keys + 32 * i, key, 32))
            return 1;
    return 0;
}

/* RFC 27: version 1.0 and a CURVE mechanism whose one credential is the
 * client's 32-byte public key. */
static const char *judge(const acq_zap *z, const zap_request *q, char user[41])
{
    user[0] = 0;
    if (!frame_is(q, 0, "1.0") || q->frames != 7)
        return "500";
    if (!frame_is(q, 5, "CURVE") || q->size[6] != 32)
        return "400";
    if (!key_allowed(z, (const uint8_t *)q->frame[6]))
        return "400";
    zmq_z85_encode(user, (const uint8_t *)q->frame[6], 32);
    return "200";
}

static void send_reply(void *socket, const zap_request *q, const char *status, const char *user)
{
    const char *text = status[0] == '2' ? "OK" : status[0] == '4' ? "client key not allowed"
                                                                   : "malformed ZAP request";
    size_t id = q->frames > 1 && q->size[1] <= ZAP_FRAME_MAX ? q->size[1] : 0;
    zmq_send(socket, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(socket, q->frame[1], id, ZMQ_SNDMORE);
    zmq_send(socket, status, 3, ZMQ_SNDMORE);
    zmq_send(socket, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(socket, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(socket, "", 0, 0); /* metadata: none */
}

static void *zap_thread(void *arg)
{
    acq_zap *z = arg;
    zmq_pollitem_t item = {.socket = z->socket, .events = ZMQ_POLLIN};
    while (!atomic_load(&z->stop)) {
        if (zmq_poll(&item, 1, ZAP_POLL_MS) <= 0 || !(item.revents & ZMQ_POLLIN))
            continue;
        zap_request q;
        char user[41];
        if (receive_request(z->socket, &q))
            continue;
        const char *status = judge(z, &q, user);
        atomic_fetch_add(status[0] == '2' ? &z->accepted : &z->refused, 1);
        send_reply(z->socket, &q, status, user);
    }
    return NULL;
}

/* ---- create / destroy --------------------------------------------------- */

int acq_zap_create(acq_zap **out, void *zmq_context, const char *allow_file, char *err)
{
    *out = NULL;
    acq_zap *z = calloc(1, sizeof *z);
    if (!z)
        return acq_fail(err, "ZAP: out of memory");
    atomic_init(&z->stop, 0);
    atomic_init(&z->accepted, 0);
    atomic_init(&z->refused, 0);
    if (read_allow_file(allow_file, &z->keys, &z->count, err))
        goto fail;
    z->socket = zmq_socket(zmq_context, ZMQ_REP);
    int linger = 0;
    /* ZAP requests (RFC 27) are a few short frames; a CURVE key is 32 bytes. */
    int64_t max_message = 4096;
    if (!z->socket || zmq_setsockopt(z->socket, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_setsockopt(z->socket, ZMQ_MAXMSGSIZE, &max_message, sizeof max_message) ||
        zmq_bind(z->socket, ZAP_ENDPOINT)) {
        /* One handler per context: a second one finds the address in use. */
        acq_fail(err, "ZAP handler %s: %s", ZAP_ENDPOINT, zmq_strerror(zmq_errno()));
        goto fail;
    }
    /* The socket moves to the thread here; pthread_create is the barrier
     * ZeroMQ asks for when a socket changes threads. */
    if (pthread_create(&z->thread, NULL, zap_thread, z) != 0) {
        acq_fail(err, "ZAP: cannot start its thread");
        goto fail;
    }
    *out = z;
    return 0;
fail:
    if (z->socket)
        zmq_close(z->socket);
    free(z->keys);
    free(z);
    return 1;
}

void acq_zap_destroy(acq_zap *z)
{
    if (!z)
        return;
    atomic_store(&z->stop, 1);
    pthread_join(z->thread, NULL);
    zmq_close(z->socket);
    free(z->keys);
    free(z);
}

size_t acq_zap_keys(const acq_zap *z) { return z->count; }

uint64_t acq_zap_accepted(acq_zap *z) { return atomic_load(&z->accepted); }

uint64_t acq_zap_refused(acq_zap *z) { return atomic_load(&z->refused); }
