/* test_receiver.c: the receiver thread and the publisher over inproc and
 * loopback TCP (with CURVE, and CURVE clients checked against a list):
 * values arrive intact; gaps, duplicates, late
 * messages, restarts, malformed messages and queue overflow are counted and
 * flagged; Open Ephys spikes are binned. */
#include "acquisition.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define ENDPOINT "inproc://acq-test"

static void *ctx;

/* Heartbeats until one comes through: subscriptions take a moment to reach
 * the publisher, and everything sent before that is lost (ZeroMQ's slow
 * joiner), so each test starts from a stream known to be connected. */
static int wait_connected(acq_publisher *p, acq_receiver *r)
{
    for (int i = 0; i < 200; i++) {
        acq_publisher_heartbeat(p, i);
        acq_item *it;
        if (acq_receiver_pop(r, &it, 20)) {
            acq_item_free(it);
            while (acq_receiver_pop(r, &it, 50))
                acq_item_free(it);
            return 1;
        }
    }
    return 0;
}

static acq_receiver *receiver_at(const char *endpoint, int bind, int capacity)
{
    acq_receiver_config c;
    char err[ACQ_ERR_SIZE];
    acq_receiver *r;
    acq_receiver_config_default(&c);
    c.socket.endpoint = endpoint;
    c.socket.bind = bind;
    c.queue_capacity = capacity;
    if (acq_receiver_create(&r, ctx, &c, err)) {
        printf("# %s\n", err);
        return NULL;
    }
    return r;
}

static acq_publisher *publisher_at(const char *endpoint, int bind, uint32_t epoch)
{
    acq_socket_config c = {.endpoint = endpoint, .bind = bind};
    char err[ACQ_ERR_SIZE];
    acq_publisher *p;
    if (acq_publisher_create(&p, ctx, &c, 3, epoch, err)) {
        printf("# %s\n", err);
        return NULL;
    }
    return p;
}

static acq_item *pop(acq_receiver *r)
{
    acq_item *it = NULL;
    return acq_receiver_pop(r, &it, 2000) ? it : NULL;
}

static void test_values(acq_publisher *p, acq_receiver *r)
{
    float c[4] = {0, 1, 2.5f, 300}, img[6] = {0, 0.2f, 0.4f, 0.6f, 0.8f, 1};
    acq_event ev[2] = {{5000000000LL, 1, 1}, {5010000000LL, 1, 0}};
    acq_onset o = {.trial = 9, .stimulus_id = 77, .onset_ns = 123, .duration_ns = 500000000,
                   .height = 2, .width = 3};
    acq_publisher_counts(p, 1000000, 1000000, c, 4, ACQ_DTYPE_F32);
    acq_publisher_counts(p, 2000000, 1000000, c, 4, ACQ_DTYPE_U16);
    acq_publisher_events(p, 5000000000LL, ev, 2);
    acq_publisher_onset(p, &o, img);
    acq_item *a = pop(r), *b = pop(r), *e = pop(r), *on = pop(r);
    CHECK(a && a->type == ACQ_MSG_COUNTS && a->count == 4 && !memcmp(a->counts, c, sizeof c) &&
          a->timestamp_ns == 1000000 && a->bin_width_ns == 1000000 && a->flags == 0,
          "float32 counts arrive intact");
    CHECK(b && b->counts[2] == 3 && b->counts[3] == 300, "uint16 counts rounded (2.5 → 3)");
    CHECK(e && e->type == ACQ_MSG_EVENTS && e->count == 2 && e->events[0].timestamp_ns == ev[0].timestamp_ns &&
          e->events[0].line == 1 && e->events[0].rising == 1 && e->events[1].rising == 0,
          "sync edges arrive intact");
    CHECK(on && on->type == ACQ_MSG_ONSET && on->onset.trial == 9 && on->onset.stimulus_id == 77 &&
          on->onset.onset_ns == 123 && on->image && !memcmp(on->image, img, sizeof img),
          "onset with its image arrives intact");
    CHECK(a && a->received_ns > 0 && a->received_ns <= acq_now_ns(), "items carry receive times");
    acq_item_free(a), acq_item_free(b), acq_item_free(e), acq_item_free(on);
}

static void test_faults(acq_publisher *p, acq_receiver *r)
{
    float c[2] = {1, 2};
    acq_stats before, after;
    acq_receiver_stats(r, &before);

    acq_publisher_skip(p);
    acq_publisher_skip(p);
    acq_publisher_counts(p, 0, 1000, c, 2, ACQ_DTYPE_F32);
    acq_item *it = pop(r);
    CHECK(it && (it->flags & ACQ_ITEM_AFTER_GAP) && it->missed_before == 2,
          "two skipped sequence numbers: flagged, missed_before 2");
    acq_item_free(it);

    acq_encoded x, y, dup;
    acq_publisher_encode_counts(p, 10, 1000, c, 2, ACQ_DTYPE_F32, &x);
    acq_publisher_encode_counts(p, 20, 1000, c, 2, ACQ_DTYPE_F32, &y);
    dup = x;
    dup.payload = malloc(x.payload_size);
    memcpy(dup.payload, x.payload, x.payload_size);
    acq_publisher_send_encoded(p, &y);
    acq_publisher_send_encoded(p, &x);
    acq_publisher_send_encoded(p, &dup);
    acq_item *first = pop(r), *second = pop(r);
    CHECK(first && first->timestamp_ns == 20 && (first->flags & ACQ_ITEM_AFTER_GAP),
          "the later message first: a gap");
    CHECK(second && second->timestamp_ns == 10 && (second->flags & ACQ_ITEM_LATE),
          "the earlier one then: late, delivered");
    acq_item_free(first), acq_item_free(second);

    acq_publisher_restart(p, 4242);
    acq_publisher_counts(p, 30, 1000, c, 2, ACQ_DTYPE_F32);
    it = pop(r);
    CHECK(it && it->timestamp_ns == 30 && (it->flags & ACQ_ITEM_RESTART),
          "after the duplicate (dropped), the restart is flagged");
    acq_item_free(it);
    acq_receiver_stats(r, &after);
    CHECK(after.gaps - before.gaps == 3 && after.late - before.late == 1 &&
          after.duplicates - before.duplicates == 1 && after.restarts - before.restarts == 1 &&
          after.lost - before.lost == 2,
          "counters: 3 skipped, 1 late, 1 duplicate, 1 restart, 2 lost");
}

static void test_malformed(acq_receiver *r)
{
    void *raw = zmq_socket(ctx, ZMQ_PUB);
    zmq_connect(raw, ENDPOINT);
    usleep(100000);
    uint8_t header[ACQ_HEADER_SIZE];
    acq_header h = {.version = 9, .type = ACQ_MSG_COUNTS, .count = 1, .bin_width_ns = 1,
                    .dtype = ACQ_DTYPE_U16};
    acq_encode_header(&h, header);
    zmq_send(raw, "counts", 6, ZMQ_SNDMORE);
    zmq_send(raw, header, sizeof header, ZMQ_SNDMORE);
    zmq_send(raw, "\1\0", 2, 0);
    zmq_send(raw, "garbage", 7, 0);
    for (int i = 0; i < 5; i++)
        zmq_send(raw, "x", 1, ZMQ_SNDMORE);
    zmq_send(raw, "x", 1, 0);
    acq_stats s;
    for (int i = 0; i < 100; i++) {
        acq_receiver_stats(r, &s);
        if (s.rejected[ACQ_REJECT_VERSION] + s.rejected[ACQ_REJECT_FRAMES] >= 3)
            break;
        usleep(10000);
    }
    CHECK(s.rejected[ACQ_REJECT_VERSION] == 1 && s.rejected[ACQ_REJECT_FRAMES] == 2,
          "wrong version and wrong frame counts rejected, each counted (%llu, %llu)",
          (unsigned long long)s.rejected[ACQ_REJECT_VERSION],
          (unsigned long long)s.rejected[ACQ_REJECT_FRAMES]);
    CHECK(strstr(s.last_error, "frames") != NULL, "the last reason kept: %s", s.last_error);
    zmq_close(raw);
}

static void test_overflow(void)
{
    acq_receiver *r = receiver_at("inproc://acq-overflow", 1, 4);
    acq_publisher *p = publisher_at("inproc://acq-overflow", 0, 1);
    CHECK(r && p && wait_connected(p, r), "small-queue receiver connected");
    if (!r || !p)
        return;
    float c[1] = {1};
    for (int i = 0; i < 20; i++)
        acq_publisher_counts(p, i, 1, c, 1, ACQ_DTYPE_F32);
    acq_stats s;
    for (int i = 0; i < 200; i++) {
        acq_receiver_stats(r, &s);
        if (s.queue_dropped == 16)
            break;
        usleep(10000);
    }
    CHECK(s.queue_dropped == 16, "a full queue of 4 drops the other 16 (%llu)",
          (unsigned long long)s.queue_dropped);
    acq_item *it;
    int kept = 0;
    while (acq_receiver_pop(r, &it, 100)) {
        kept++;
        acq_item_free(it);
    }
    acq_publisher_counts(p, 99, 1, c, 1, ACQ_DTYPE_F32);
    it = pop(r);
    CHECK(kept == 4 && it && (it->flags & ACQ_ITEM_AFTER_OVERFLOW),
          "4 kept; the next item says items were dropped before it");
    acq_item_free(it);
    acq_publisher_destroy(p);
    acq_receiver_destroy(r);
}

static int write_key(const char *path, const char *key)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return 1;
    fprintf(f, "%s\n", key);
    return fclose(f);
}

static void test_tcp_curve(void)
{
    char server_public[41], server_secret[41], client_public[41], client_secret[41];
    if (zmq_curve_keypair(server_public, server_secret) != 0) {
        CHECK(0, "libzmq has CURVE");
        return;
    }
    zmq_curve_keypair(client_public, client_secret);
    char dir[] = "/tmp/acq-curve-XXXXXX", spub[64], ssec[64], csec[64], endpoint[64];
    CHECK(mkdtemp(dir) != NULL, "temp dir for keys");
    snprintf(spub, sizeof spub, "%s/server.pub", dir);
    snprintf(ssec, sizeof ssec, "%s/server.key", dir);
    snprintf(csec, sizeof csec, "%s/client.key", dir);
    write_key(spub, server_public), write_key(ssec, server_secret), write_key(csec, client_secret);
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", 42000 + getpid() % 2000);

    acq_socket_config pc = {.endpoint = endpoint, .bind = 1, .curve_secret_file = ssec};
    acq_receiver_config rc;
    acq_receiver_config_default(&rc);
    rc.socket.endpoint = endpoint;
    rc.socket.curve_secret_file = csec;
    rc.socket.curve_server_public_file = spub;
    char err[ACQ_ERR_SIZE];
    acq_publisher *p = NULL;
    acq_receiver *r = NULL;
    int ok = !acq_publisher_create(&p, NULL, &pc, 1, 1, err) &&
             !acq_receiver_create(&r, NULL, &rc, err);
    CHECK(ok, "CURVE publisher and subscriber over loopback TCP: %s", ok ? "" : err);
    if (ok) {
        CHECK(wait_connected(p, r), "encrypted stream connected");
        float c[3] = {4, 5, 6};
        acq_publisher_counts(p, 7, 1000, c, 3, ACQ_DTYPE_U16);
        acq_item *it = pop(r);
        CHECK(it && it->counts[0] == 4 && it->counts[2] == 6, "counts through CURVE");
        acq_item_free(it);
    }
    /* A subscriber holding the wrong server key hears nothing. */
    acq_receiver *wrong = NULL;
    rc.socket.curve_server_public_file = spub;
    write_key(spub, client_public);
    if (ok && !acq_receiver_create(&wrong, NULL, &rc, err)) {
        float c[1] = {1};
        int heard = 0;
        for (int i = 0; i < 20 && !heard; i++) {
            acq_publisher_counts(p, i, 1000, c, 1, ACQ_DTYPE_U16);
            acq_item *it;
            heard = acq_receiver_pop(wrong, &it, 20);
            if (heard)
                acq_item_free(it);
        }
        CHECK(!heard, "wrong server key: nothing received");
        acq_receiver_destroy(wrong);
    }
    rc.socket.curve_secret_file = "/nonexistent/key";
    CHECK(acq_receiver_create(&wrong, NULL, &rc, err) != 0 && strstr(err, "/nonexistent/key"),
          "missing key file named: %s", err);
    rc.socket.curve_secret_file = NULL;
    rc.socket.curve_server_public_file = NULL;
    rc.socket.endpoint = "tcp://0.0.0.0:5999";
    CHECK(acq_receiver_create(&wrong, NULL, &rc, err) != 0 && strstr(err, "loopback"),
          "a non-loopback endpoint needs allow_remote: %s", err);
    acq_receiver_destroy(r);
    acq_publisher_destroy(p);
    remove(spub), remove(ssec), remove(csec), rmdir(dir);
}

static acq_receiver *curve_receiver(const char *endpoint, const char *secret,
                                    const char *server_public)
{
    acq_receiver_config rc;
    acq_receiver_config_default(&rc);
    rc.socket.endpoint = endpoint;
    rc.socket.curve_secret_file = secret;
    rc.socket.curve_server_public_file = server_public;
    char err[ACQ_ERR_SIZE];
    acq_receiver *r = NULL;
    if (acq_receiver_create(&r, NULL, &rc, err))
        fprintf(stderr, "# %s\n", err);
    return r;
}

static int heard(acq_receiver *r, int timeout_ms, float *first)
{
    acq_item *it;
    int got = 0;
    while (acq_receiver_pop(r, &it, timeout_ms)) {
        if (it->type == ACQ_MSG_COUNTS && !got)
            *first = it->counts[0], got = 1;
        acq_item_free(it);
        timeout_ms = 0;
    }
    return got;
}

/* The server authenticates its clients: with a client list, a subscriber
 * whose key is listed receives the stream, one whose key is not receives
 * nothing in the same run (and its handshakes are counted as refused); a
 * malformed list is refused with its file and line. */
static void test_curve_clients(void)
{
    char spub_key[41], ssec_key[41], apub[41], asec[41], bpub[41], bsec[41];
    zmq_curve_keypair(spub_key, ssec_key);
    zmq_curve_keypair(apub, asec);
    zmq_curve_keypair(bpub, bsec);
    char dir[] = "/tmp/acq-zap-XXXXXX", spub[64], ssec[64], acsec[64], bcsec[64], list[64],
         endpoint[64];
    CHECK(mkdtemp(dir) != NULL, "temp dir for keys");
    snprintf(spub, sizeof spub, "%s/server.pub", dir);
    snprintf(ssec, sizeof ssec, "%s/server.key", dir);
    snprintf(acsec, sizeof acsec, "%s/a.key", dir);
    snprintf(bcsec, sizeof bcsec, "%s/b.key", dir);
    snprintf(list, sizeof list, "%s/clients", dir);
    write_key(spub, spub_key), write_key(ssec, ssec_key);
    write_key(acsec, asec), write_key(bcsec, bsec);
    FILE *f = fopen(list, "w");
    fprintf(f, "# rig clients\n\n  %s   # the analysis machine\n", apub);
    fclose(f);
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", 44000 + getpid() % 2000);

    acq_socket_config pc = {.endpoint = endpoint, .bind = 1, .curve_secret_file = ssec,
                            .curve_clients_file = list};
    char err[ACQ_ERR_SIZE];
    acq_publisher *p = NULL;
    int ok = !acq_publisher_create(&p, NULL, &pc, 1, 1, err);
    CHECK(ok, "publisher with a CURVE client list: %s", ok ? "" : err);
    if (!ok)
        return;
    acq_receiver *allowed = curve_receiver(endpoint, acsec, spub);
    acq_receiver *refused = curve_receiver(endpoint, bcsec, spub);
    CHECK(allowed && refused, "two CURVE subscribers created");
    /* Publish for up to 2 s: the allowed one hears it, the other never does. */
    int heard_allowed = 0, heard_refused = 0;
    float value_allowed = -1, value_refused = -1;
    for (int i = 0; i < 100 && allowed && refused; i++) {
        float c[1] = {(float)(i % 7 + 1)};
        acq_publisher_counts(p, i, 1000, c, 1, ACQ_DTYPE_U16);
        heard_allowed |= heard(allowed, 10, &value_allowed);
        heard_refused |= heard(refused, 10, &value_refused);
    }
    acq_publisher_stats ps;
    acq_publisher_get_stats(p, &ps);
    CHECK(heard_allowed && value_allowed >= 1 && value_allowed <= 7,
          "listed client receives counts (%g)", value_allowed);
    CHECK(!heard_refused, "unlisted client receives nothing within 2 s");
    CHECK(ps.clients_accepted >= 1, "accepted handshakes counted: %llu",
          (unsigned long long)ps.clients_accepted);
    CHECK(ps.clients_refused >= 1, "refused handshakes counted: %llu",
          (unsigned long long)ps.clients_refused);
    acq_receiver_destroy(allowed);
    acq_receiver_destroy(refused);
    acq_publisher_destroy(p);

    /* Malformed lists: the file and line in the error. */
    f = fopen(list, "w");
    fprintf(f, "# ok so far\n%s\nnot-a-key\n", apub);
    fclose(f);
    char want[96];
    snprintf(want, sizeof want, "%s:3:", list);
    CHECK(acq_publisher_create(&p, NULL, &pc, 1, 1, err) != 0 && strstr(err, want),
          "bad key named with its line: %s", err);
    f = fopen(list, "w");
    fprintf(f, "%s trailing\n", apub);
    fclose(f);
    snprintf(want, sizeof want, "%s:1:", list);
    CHECK(acq_publisher_create(&p, NULL, &pc, 1, 1, err) != 0 && strstr(err, want),
          "text after a key without '#' refused: %s", err);
    f = fopen(list, "w");
    fprintf(f, "# nobody\n");
    fclose(f);
    CHECK(acq_publisher_create(&p, NULL, &pc, 1, 1, err) != 0 && strstr(err, "no client keys"),
          "an empty list is an error: %s", err);
    pc.curve_secret_file = NULL;
    CHECK(acq_publisher_create(&p, NULL, &pc, 1, 1, err) != 0 && strstr(err, "secret"),
          "a client list without a server secret: %s", err);
    /* A second handler in one context finds the address taken. */
    void *shared = zmq_ctx_new();
    acq_zap *z1 = NULL, *z2 = NULL;
    f = fopen(list, "w");
    fprintf(f, "%s\n%s\n", apub, bpub);
    fclose(f);
    CHECK(!acq_zap_create(&z1, shared, list, err) && acq_zap_keys(z1) == 2,
          "ZAP handler with two keys: %s", z1 ? "" : err);
    CHECK(acq_zap_create(&z2, shared, list, err) != 0 && strstr(err, "zeromq.zap.01"),
          "one ZAP handler per context: %s", err);
    acq_zap_destroy(z1);
    zmq_ctx_term(shared);
    remove(spub), remove(ssec), remove(acsec), remove(bcsec), remove(list), rmdir(dir);
}

static void send_oe(void *s, const char *envelope, size_t env, const char *json,
                    const void *payload, size_t size)
{
    zmq_send(s, envelope, env, ZMQ_SNDMORE);
    zmq_send(s, json, strlen(json), payload ? ZMQ_SNDMORE : 0);
    if (payload)
        zmq_send(s, payload, size, 0);
}

static void test_openephys(void)
{
    acq_receiver_config c;
    char err[ACQ_ERR_SIZE], json[512];
    acq_receiver *r;
    acq_receiver_config_default(&c);
    c.socket.endpoint = "inproc://acq-oe";
    c.socket.bind = 1;
    c.format = ACQ_FORMAT_OPENEPHYS;
    c.units = 3;
    c.sample_rate = 30000;
    c.bin_width_ns = 10000000;
    CHECK(acq_receiver_create(&r, ctx, &c, err) == 0, "Open Ephys receiver: %s", err);
    void *s = zmq_socket(ctx, ZMQ_PUB);
    zmq_connect(s, "inproc://acq-oe");
    /* Connect with data blocks until one closes a bin. */
    int num = 1, connected = 0; /* the plugin counts messages from 1 */
    for (int i = 0; i < 100 && !connected; i++) {
        snprintf(json, sizeof json, "{\"message_num\": %d, \"type\": \"data\", \"content\": "
                 "{\"num_samples\": 300, \"sample_num\": %d, \"sample_rate\": 30000}}", num++, 300 * i);
        send_oe(s, "DATA", 5, json, "\0\0\0\0", 4);
        acq_item *it;
        connected = acq_receiver_pop(r, &it, 20);
        if (connected)
            acq_item_free(it);
    }
    acq_item *it;
    while (acq_receiver_pop(r, &it, 50))
        acq_item_free(it);
    int64_t base = 300 * 200; /* well past the connection's bins: bin 200 */
    int units[4] = {1, 1, 3, 2}; /* sorted ids: units 0, 0, 2, 1 */
    for (int i = 0; i < 4; i++) {
        snprintf(json, sizeof json, "{\"message_num\": %d, \"type\": \"spike\", \"spike\": "
                 "{\"electrode\": \"Electrode 1\", \"sample_num\": %lld, \"sorted_id\": %d}}",
                 num++, (long long)(base + 10 + 50 * i), units[i]);
        send_oe(s, "EVENT", 6, json, NULL, 0);
    }
    snprintf(json, sizeof json, "{\"message_num\": %d, \"type\": \"event\", \"content\": "
             "{\"type\": 3, \"sample_num\": %lld}}", num++, (long long)(base + 100));
    send_oe(s, "EVENT", 6, json, "\2\1\0\0\0\0\0\0\0\0", 10);
    snprintf(json, sizeof json, "{\"message_num\": %d, \"type\": \"data\", \"content\": "
             "{\"num_samples\": 300, \"sample_num\": %lld}}", num++, (long long)(base + 3000));
    send_oe(s, "DATA", 5, json, "\0\0\0\0", 4);
    float found[3] = {-1, -1, -1};
    int64_t ttl = -1;
    /* Bins stay open two blocks (1024 samples each until a longer one is
     * seen) past their end: the block at base + 3000 closes bin 200. */
    while (acq_receiver_pop(r, &it, 500)) {
        if (it->type == ACQ_MSG_COUNTS && it->timestamp_ns == 200 * 10000000LL)
            memcpy(found, it->counts, sizeof found);
        if (it->type == ACQ_MSG_EVENTS && it->events[0].line == 2)
            ttl = it->events[0].timestamp_ns;
        acq_item_free(it);
    }
    CHECK(found[0] == 2 && found[1] == 1 && found[2] == 1,
          "spikes binned per sorted unit: %g %g %g", found[0], found[1], found[2]);
    CHECK(ttl == (base + 100) * 1000000000LL / 30000, "TTL on line 2 at its sample time");
    zmq_close(s);
    acq_receiver_destroy(r);
}

int main(void)
{
    ctx = zmq_ctx_new();
    acq_receiver *r = receiver_at(ENDPOINT, 1, 64);
    acq_publisher *p = publisher_at(ENDPOINT, 0, 1);
    CHECK(r && p && wait_connected(p, r), "inproc stream connected");
    if (r && p) {
        test_values(p, r);
        test_faults(p, r);
        test_malformed(r);
    }
    acq_publisher_destroy(p);
    acq_receiver_destroy(r);
    test_overflow();
    test_tcp_curve();
    test_curve_clients();
    test_openephys();
    zmq_ctx_term(ctx);
    return test_done();
}
