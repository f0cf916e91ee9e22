/* test_display.c: the remote display on loopback (SDL's dummy driver, a
 * software clock at 500 Hz). The message format round-trips and refuses
 * every truncation; a display server in a thread is driven by the client:
 * preload, 200 trials with every event back in order and the presenter's
 * frame accounting intact, onsets on the controller's clock; abort mid-block;
 * a client that vanishes mid-block does not stall the server; bad messages
 * are counted and dropped; the clock offset is found within its uncertainty
 * (the server pretends its clock is 3.7 s ahead). */
#include "controller.h"
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define TRIALS 200
#define IMAGES 6
#define HZ 500.0
#define SHIFT_NS 3700000000LL

static char err[CONTROLLER_ERR_SIZE];

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* ---- the message format ---- */

static int same_bytes(const display_message *m)
{
    uint8_t a[1024], b[1024];
    size_t n = display_message_encode(m, a, sizeof a);
    display_message d;
    char e[CONTROLLER_ERR_SIZE];
    if (!n || display_message_decode(a, n, &d, e))
        return 0;
    return display_message_encode(&d, b, sizeof b) == n && !memcmp(a, b, n);
}

static void test_format(void)
{
    float pixels[6] = {0.0f, 0.25f, 0.5f, 0.75f, 1.0f, 0.125f};
    uint8_t le[24];
    memcpy(le, pixels, sizeof le); /* the test machine is little-endian, as the wire */
    display_message m[8] = {
        {.type = DISPLAY_HELLO},
        {.type = DISPLAY_PING, .client_ns = 123456789012345LL},
        {.type = DISPLAY_IMAGE, .height = 2, .width = 3, .pixel_type = DISPLAY_PIXELS_FLOAT32,
         .payload = le, .payload_size = 24},
        {.type = DISPLAY_SUBMIT, .request = {77, 2, -1, 5, 3, NULL}},
        {.type = DISPLAY_PAUSE, .paused = 1},
        {.type = DISPLAY_PONG, .client_ns = 5, .display_ns = -7, .bad_messages = 9},
        {.type = DISPLAY_EVENT, .sequence = 41,
         .event = {.kind = PRESENTER_EVENT_TRIAL, .trial = 9, .image = 2, .sound = -1,
                   .onset_flip = 100, .onset_ns = 1000, .offset_ns = 2000, .end_ns = 3000,
                   .sound_onset_sample = -1, .frames_requested = 5, .isi_requested = 3,
                   .frames_shown = 5, .isi_shown = 3}},
        {.type = DISPLAY_EVENT, .event = {.kind = PRESENTER_EVENT_BLOCK_END},
         .summary = {.trials_shown = 200, .flips = 1234, .aborted = 1, .period_ms = 2.0}},
    };
    int all = 1;
    for (int i = 0; i < 8; i++)
        all &= same_bytes(&m[i]);
    CHECK(all, "8 kinds of message: encode, decode, encode gives the same bytes");
    uint8_t bytes[1024];
    size_t n = display_message_encode(&m[6], bytes, sizeof bytes);
    display_message d;
    CHECK(n == 16 + 88 && !display_message_decode(bytes, n, &d, err) && d.sequence == 41 &&
              d.event.trial == 9 && d.event.offset_ns == 2000 && d.event.frames_shown == 5,
          "an event is 16 + 88 bytes and its fields come back");
    n = display_message_encode(&m[7], bytes, sizeof bytes);
    CHECK(n == 16 + 88 + 128 && !display_message_decode(bytes, n, &d, err) &&
              d.summary.trials_shown == 200 && d.summary.aborted == 1 &&
              d.summary.period_ms == 2.0, "a block end carries the 128-byte summary");
    n = display_message_encode(&m[2], bytes, sizeof bytes);
    int truncations = 0;
    for (size_t k = 0; k < n; k++)
        truncations += display_message_decode(bytes, k, &d, err) != 0;
    CHECK(truncations == (int)n, "every one of the %zu truncations of an IMAGE is refused", n);
    bytes[4] = 2;
    CHECK(display_message_decode(bytes, n, &d, err) && strstr(err, "version"),
          "version 2 refused: %s", err);
}

/* ---- a server in a thread ---- */

typedef struct server_thread {
    display_server *server;
    atomic_int stop;
    atomic_llong polls;
} server_thread;

static void *serve(void *arg)
{
    server_thread *t = arg;
    while (!atomic_load(&t->stop)) {
        display_server_poll(t->server, 2);
        atomic_fetch_add(&t->polls, 1);
    }
    return NULL;
}

typedef struct stream {
    presenter_event onset[TRIALS], trial[TRIALS];
    int onsets, trials, out_of_order, ended;
} stream;

static int take(display_ops *d, stream *st, int timeout_ms)
{
    presenter_event ev;
    if (!d->next_event(d->display, &ev, timeout_ms))
        return -1;
    if (ev.kind == PRESENTER_EVENT_BLOCK_END) {
        st->ended = 1;
        return 1;
    }
    if (ev.kind == PRESENTER_EVENT_FLIP) /* a late flip: a loaded machine */
        return 0;
    int *n = ev.kind == PRESENTER_EVENT_ONSET ? &st->onsets : &st->trials;
    presenter_event *into = ev.kind == PRESENTER_EVENT_ONSET ? st->onset : st->trial;
    if (*n < TRIALS) {
        st->out_of_order += ev.trial != *n;
        into[(*n)++] = ev;
    } else {
        st->out_of_order++;
    }
    return 0;
}

static int frames_of(int i) { return 1 + (i * 7) % 3; }
static int isi_of(int i) { return (i * 5) % 3; }

/* Through the one interface: the same code drives a local presenter. */
static int run_block(display_ops *d, stream *st, int trials)
{
    if (d->start_block(d->display, err))
        return 1;
    int next = 0, rc;
    while (next < trials) {
        presenter_request r = {next, next % IMAGES, -1, frames_of(next), isi_of(next), NULL};
        rc = d->submit(d->display, &r, err);
        if (rc < 0)
            return 1;
        if (rc == 0)
            next++;
        else if (take(d, st, 100) == 1)
            return 1;
    }
    d->finish_block(d->display);
    while ((rc = take(d, st, 10000)) == 0)
        ;
    return rc != 1;
}

static void check_stream(const stream *st, const presenter_summary *sum, double period_ns,
                         int64_t start_ns, int64_t end_ns, const char *who)
{
    CHECK(st->onsets == TRIALS && st->trials == TRIALS && st->out_of_order == 0,
          "%s: %d onset and %d trial events, in order", who, st->onsets, st->trials);
    int same = 1, gaps_ok = 1, measured_ok = 1, flags_ok = 1, clock_ok = 1;
    int64_t scheduled = 0, wrong = 0;
    for (int i = 0; i < st->trials && i < st->onsets; i++) {
        const presenter_event *o = &st->onset[i], *t = &st->trial[i];
        scheduled += frames_of(i) + isi_of(i);
        same &= o->image == i % IMAGES && t->frames_requested == frames_of(i) &&
                t->isi_requested == isi_of(i) && o->onset_flip == t->onset_flip &&
                o->onset_ns == t->onset_ns;
        if (i)
            gaps_ok &= o->onset_flip - st->onset[i - 1].onset_flip >=
                       frames_of(i - 1) + isi_of(i - 1);
        clock_ok &= t->onset_ns > start_ns && t->onset_ns < t->offset_ns &&
                    t->offset_ns <= t->end_ns && t->end_ns < end_ns;
        int shown = (int)llround((double)(t->offset_ns - t->onset_ns) / period_ns);
        int isi = (int)llround((double)(t->end_ns - t->offset_ns) / period_ns);
        measured_ok &= shown == t->frames_shown && isi == t->isi_shown;
        int w = shown != frames_of(i) || isi != isi_of(i);
        flags_ok &= w == !!(t->flags & PRESENTER_WRONG_DURATION);
        wrong += w;
    }
    CHECK(same, "%s: each event carries its request's image and frame counts", who);
    CHECK(gaps_ok, "%s: each onset at least frames + ISI flips after the previous", who);
    CHECK(sum->flips == scheduled + sum->idle_flips && sum->trials_shown == TRIALS &&
              sum->wrong_durations == wrong && !sum->aborted,
          "%s: summary: %lld flips = %lld scheduled + %lld idle, %lld trials, %lld wrong", who,
          (long long)sum->flips, (long long)scheduled, (long long)sum->idle_flips,
          (long long)sum->trials_shown, (long long)sum->wrong_durations);
    CHECK(clock_ok, "%s: onset < offset <= end, all inside the block on the controller's clock",
          who);
    CHECK(measured_ok && flags_ok, "%s: frames recomputed from the timestamps; wrong "
          "durations flagged exactly", who);
}

static void preload(display_ops *d)
{
    float pixels[8 * 8];
    int ok = 1;
    for (int k = 0; k < IMAGES; k++) {
        for (int i = 0; i < 64; i++)
            pixels[i] = (float)((i + k) % 16) / 15.0f;
        int id = -1;
        ok &= !d->add_image(d->display, pixels, 8, 8, &id, err) && id == k;
    }
    CHECK(ok, "%d images preloaded, ids 0..%d", IMAGES, IMAGES - 1);
}

static void test_trials(display_client *client, presenter *local)
{
    display_ops d[2] = {display_ops_remote(client), display_ops_local(local)};
    const char *who[2] = {"remote", "local"};
    for (int k = 0; k < 2; k++) {
        preload(&d[k]);
        stream *st = calloc(1, sizeof *st);
        int64_t start = now_ns();
        err[0] = 0;
        CHECK(run_block(&d[k], st, TRIALS) == 0, "%s: 200 trials, block ended %s", who[k], err);
        int64_t end = now_ns();
        presenter_summary sum;
        d[k].block_summary(d[k].display, &sum);
        check_stream(st, &sum, d[k].period_ms(d[k].display) * 1e6, start, end, who[k]);
        free(st);
    }
    CHECK(display_client_events_lost(client) == 0, "no event lost on the way");
}

static void test_abort(display_client *client)
{
    display_ops d = display_ops_remote(client);
    stream *st = calloc(1, sizeof *st);
    CHECK(d.start_block(d.display, err) == 0, "second block started");
    int submitted = 0;
    for (int i = 0; i < 100; i++) {
        presenter_request r = {i, i % IMAGES, -1, 10, 0, NULL};
        submitted += d.submit(d.display, &r, err) == 0;
    }
    while (st->trials < 3 && take(&d, st, 5000) == 0)
        ;
    d.abort(d.display);
    while (take(&d, st, 5000) == 0)
        ;
    presenter_summary sum;
    d.block_summary(d.display, &sum);
    CHECK(st->ended && sum.aborted && sum.trials_shown == st->trials &&
              sum.trials_shown + sum.trials_discarded == submitted && st->trials < submitted,
          "abort mid-block: %d trials shown (the block end says %lld) + %lld discarded = %d "
          "submitted", st->trials, (long long)sum.trials_shown,
          (long long)sum.trials_discarded, submitted);
    free(st);
}

/* A client starts a block and vanishes; the server keeps polling, and the
 * next client takes over, aborts the orphan block and runs its own. */
static void test_vanished_client(server_thread *t, const display_client_config *cc)
{
    display_client *gone;
    if (display_client_create(&gone, cc, err)) {
        CHECK(0, "client: %s", err);
        return;
    }
    display_client_start_block(gone, err);
    for (int i = 0; i < 20; i++) {
        presenter_request r = {i, 0, -1, 50, 0, NULL};
        display_client_submit(gone, &r, err);
    }
    display_client_destroy(gone);
    long long polls = atomic_load(&t->polls);
    struct timespec pause = {0, 200000000};
    nanosleep(&pause, NULL);
    CHECK(atomic_load(&t->polls) > polls, "the server kept polling after its client vanished "
          "(%lld polls in 200 ms)", atomic_load(&t->polls) - polls);
    display_client *next;
    CHECK(display_client_create(&next, cc, err) == 0, "a new client is answered: %s",
          display_client_status(next));
    display_ops d = display_ops_remote(next);
    d.abort(d.display);
    stream *st = calloc(1, sizeof *st);
    while (take(&d, st, 5000) == 0)
        ;
    presenter_summary sum;
    d.block_summary(d.display, &sum);
    CHECK(st->ended && sum.aborted, "the orphan block ends on the new client's abort");
    uint64_t bad, dropped;
    display_client_sync_clock(next, 1, err);
    display_client_server_counters(next, &bad, &dropped);
    CHECK(dropped > 0, "events nobody could take were dropped and counted (%llu)",
          (unsigned long long)dropped);
    display_client_destroy(next);
    free(st);
}

static void test_bad_messages(server_thread *t, const char *endpoint)
{
    display_server_stats before, after;
    display_server_stats_get(t->server, &before);
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(s, endpoint);
    uint8_t good[64];
    display_message ping = {.type = DISPLAY_PING, .client_ns = 1};
    size_t n = display_message_encode(&ping, good, sizeof good);
    uint8_t junk[64];
    uint64_t x = 99;
    for (size_t i = 0; i < sizeof junk; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        junk[i] = (uint8_t)(x >> 56);
    }
    uint8_t wrong_version[64], short_length[64], huge_image[32], reverse[32];
    memcpy(wrong_version, good, n);
    wrong_version[4] = 9;
    memcpy(short_length, good, n);
    short_length[12] = 4;
    display_message img = {.type = DISPLAY_IMAGE, .height = 100000, .width = 100000,
                           .pixel_type = DISPLAY_PIXELS_UINT8};
    display_message_encode(&img, huge_image, sizeof huge_image);
    display_message cfg = {.type = DISPLAY_PONG};
    size_t reverse_size = display_message_encode(&cfg, reverse, sizeof reverse);
    zmq_send(s, junk, sizeof junk, 0);
    zmq_send(s, good, 7, 0);
    zmq_send(s, wrong_version, n, 0);
    zmq_send(s, short_length, n, 0);
    zmq_send(s, huge_image, 32, 0);
    zmq_send(s, reverse, reverse_size, 0);
    zmq_send(s, good, n, ZMQ_SNDMORE); /* two frames */
    zmq_send(s, good, n, 0);
    zmq_send(s, "", 0, 0);
    zmq_send(s, good, n, 0); /* and a good ping: answered after all that */
    uint8_t answer[256];
    zmq_pollitem_t item = {s, 0, ZMQ_POLLIN, 0};
    int got = zmq_poll(&item, 1, 5000) == 1 && zmq_recv(s, answer, sizeof answer, 0) > 0;
    display_message pong;
    got = got && !display_message_decode(answer, 16 + 32, &pong, err) &&
          pong.type == DISPLAY_PONG;
    display_server_stats_get(t->server, &after);
    CHECK(got && pong.bad_messages - before.bad_messages == 8 &&
              after.bad_messages - before.bad_messages == 8,
          "8 bad messages counted and dropped, the good ping after them answered (%llu; last: "
          "%s)", (unsigned long long)(after.bad_messages - before.bad_messages),
          after.last_error);
    zmq_close(s);
    zmq_ctx_term(ctx);
}

/* A display with a cap on what it preloads: images within it are taken,
 * the one beyond is refused with a reply naming the cap; a request larger
 * than the cap is dropped by the socket on arrival (ZMQ_MAXMSGSIZE), and the
 * display answers the next one. */
static void test_preload_cap(presenter *remote)
{
    enum { H = 48, W = 64 };
    size_t image_bytes = (size_t)H * W * sizeof(float);
    display_server_config sc = {.endpoint = "tcp://127.0.0.1:*", .queue_capacity = 64,
                                .max_preload_bytes = 3 * image_bytes + image_bytes / 2};
    server_thread t = {0};
    if (display_server_create(&t.server, remote, &sc, err)) {
        CHECK(0, "capped server: %s", err);
        return;
    }
    pthread_t thread;
    pthread_create(&thread, NULL, serve, &t);
    display_client_config cc = {.endpoint = display_server_endpoint(t.server), .pings = 4};
    display_client *client;
    if (display_client_create(&client, &cc, err)) {
        CHECK(0, "client: %s", err);
    } else {
        static float pixels[H * W];
        int id, taken = 0;
        for (int i = 0; i < 3; i++)
            taken += display_client_add_image(client, pixels, H, W, &id, err) == 0;
        int refused = display_client_add_image(client, pixels, H, W, &id, err) != 0;
        CHECK(taken == 3 && refused && strstr(err, "would take 0.0469 MiB, over this display's cap of 0.041 MiB") &&
                  strstr(err, "--max-preload-mb"),
              "3 images within the cap taken, the 4th refused: %s", err);
        display_client_destroy(client);
    }
    /* 1 MiB in one frame, beyond the cap: the connection drops it. */
    display_server_stats before, after;
    display_server_stats_get(t.server, &before);
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(s, display_server_endpoint(t.server));
    uint8_t *big = calloc(1, 1 << 20);
    display_message img = {.type = DISPLAY_IMAGE, .height = 512, .width = 512,
                           .pixel_type = DISPLAY_PIXELS_FLOAT32, .payload = big,
                           .payload_size = (size_t)512 * 512 * 4};
    size_t size = display_message_size(&img);
    uint8_t *frame = malloc(size);
    display_message_encode(&img, frame, size);
    zmq_send(s, frame, size, 0);
    free(frame);
    free(big);
    usleep(300000);
    display_server_stats_get(t.server, &after);
    CHECK(after.messages == before.messages && after.bad_messages == before.bad_messages,
          "a 1 MiB image beyond the cap never reached the display (%llu requests, %llu bad)",
          (unsigned long long)(after.messages - before.messages),
          (unsigned long long)(after.bad_messages - before.bad_messages));
    zmq_close(s);
    zmq_ctx_term(ctx);
    if (!display_client_create(&client, &cc, err)) {
        display_clock clock;
        display_client_clock(client, &clock);
        CHECK(clock.pings == 4, "the display answers the next controller (%d pings)", clock.pings);
        display_client_destroy(client);
    } else {
        CHECK(0, "the display answers the next controller: %s", err);
    }
    atomic_store(&t.stop, 1);
    pthread_join(thread, NULL);
    display_server_destroy(t.server);
}

int main(void)
{
    setenv("SDL_VIDEODRIVER", "dummy", 0);
    test_format();
    presenter_config pc = presenter_config_default();
    pc.width = 64;
    pc.height = 48;
    pc.refresh_hz = (float)HZ;
    pc.queue_capacity = 64;
    presenter *remote, *local;
    if (presenter_create(&remote, &pc, err) || presenter_create(&local, &pc, err)) {
        CHECK(0, "presenter: %s", err);
        return test_done();
    }
    display_server_config sc = {.endpoint = "tcp://127.0.0.1:*", .queue_capacity = 64,
                                .clock_shift_ns = SHIFT_NS, .send_hwm = 1000};
    server_thread t = {0};
    CHECK(display_server_create(&t.server, remote, &sc, err) == 0, "server on %s",
          t.server ? display_server_endpoint(t.server) : err);
    display_server_config far = {.endpoint = "tcp://192.0.2.1:5560"};
    display_server *refused;
    CHECK(display_server_create(&refused, remote, &far, err) && strstr(err, "--allow-remote"),
          "a non-loopback endpoint needs allow_remote: %s", err);
    pthread_t thread;
    pthread_create(&thread, NULL, serve, &t);
    display_client_config cc = {.endpoint = display_server_endpoint(t.server), .pings = 32};
    display_client *client;
    if (display_client_create(&client, &cc, err)) {
        CHECK(0, "client: %s", err);
    } else {
        display_clock clock;
        display_client_clock(client, &clock);
        CHECK(llabs(clock.offset_ns - SHIFT_NS) <= clock.uncertainty_ns &&
                  clock.uncertainty_ns > 0 && clock.pings == 32,
              "clock offset %.6f ms ± %.6f ms (true %.1f ms) from %d pings", clock.offset_ns / 1e6,
              clock.uncertainty_ns / 1e6, SHIFT_NS / 1e6, clock.pings);
        test_trials(client, local);
        test_abort(client);
        display_client_destroy(client);
        test_vanished_client(&t, &cc);
        test_bad_messages(&t, display_server_endpoint(t.server));
    }
    atomic_store(&t.stop, 1);
    pthread_join(thread, NULL);
    display_server_destroy(t.server);
    test_preload_cap(remote);
    presenter_destroy(remote);
    presenter_destroy(local);
    return test_done();
}
