/* display.h: the display room of the controller library: the remote display
 * (display_protocol.c, display_server.c, display_client.c; controller/display/DISPLAY.md)
 * display_ops, the one interface over a local or remote display
 * (display_ops.c), and the run's display, either one opened from a protocol
 * (run_display.c). */
#ifndef INCEPTION_DISPLAY_H
#define INCEPTION_DISPLAY_H

#include "controller_util.h"
#include "protocol/protocol.h"
#include "stimulus.h"

/* ------------------------------------------------------------------------
 * Remote display (display_protocol.c, display_server.c, display_client.c,
 * display_ops.c; the message format is controller/display/DISPLAY.md)
 *
 * The presenter can run on another computer: `inception present --serve`
 * there runs a display server that obeys the controller's requests and
 * streams the presenter's events back over ZeroMQ (one ROUTER on the display,
 * one DEALER in the controller). The controller drives either display through
 * display_ops, so the run loop does not know which one it has.
 * ------------------------------------------------------------------------ */


#define DISPLAY_PROTOCOL_VERSION 1
#define DISPLAY_HEADER_SIZE 16
#define DISPLAY_TEXT_SIZE 128     /* status and reason strings on the wire */
#define DISPLAY_MAX_IMAGE_SIDE 8192
#define DISPLAY_MAX_SOUND_SAMPLES (48000 * 600 * 2) /* ten minutes of stereo */
#define DISPLAY_DEFAULT_ENDPOINT "tcp://127.0.0.1:5560"
#define DISPLAY_DEFAULT_PRELOAD ((size_t)1 << 30) /* 1 GiB of preloaded images and sounds */

typedef enum display_message_type {
    /* controller → display */
    DISPLAY_HELLO = 1,
    DISPLAY_PING = 2,
    DISPLAY_IMAGE = 3,
    DISPLAY_SOUND = 4,
    DISPLAY_START_BLOCK = 5,
    DISPLAY_SUBMIT = 6,
    DISPLAY_FINISH_BLOCK = 7,
    DISPLAY_ABORT = 8,
    DISPLAY_PAUSE = 9,
    /* display → controller */
    DISPLAY_CONFIG = 65, /* the answer to HELLO */
    DISPLAY_PONG = 66,
    DISPLAY_REPLY = 67,  /* the outcome of IMAGE, SOUND, START_BLOCK, or a refused SUBMIT */
    DISPLAY_EVENT = 68,  /* a presenter event; BLOCK_END carries the summary */
} display_message_type;

enum { DISPLAY_PIXELS_UINT8 = 1, DISPLAY_PIXELS_FLOAT32 = 2 };

/* One message, decoded. Only the fields of its type are meaningful. */
typedef struct display_message {
    int type;
    uint32_t sequence;          /* per sender, +1 a message; the client counts gaps */
    /* IMAGE: pixels H×W row-major; SOUND: frames × channels interleaved float32.
     * `payload` points into the decoded bytes (little-endian, maybe unaligned). */
    int height, width, pixel_type;
    int sound_frames, channels, rate;
    const uint8_t *payload;
    size_t payload_size;
    presenter_request request;  /* SUBMIT (capture is never sent) */
    int paused;                 /* PAUSE */
    /* PING and PONG: the controller's clock when the ping left; the display's
     * clock when it answered (also in CONFIG); the server's counters. */
    int64_t client_ns, display_ns;
    uint64_t bad_messages, events_dropped;
    /* CONFIG */
    int drawable_width, drawable_height, queue_capacity, images;
    double refresh_hz, period_ms;
    /* REPLY: which request, 0 ok / 1 queue full / -1 refused, the id given
     * (image or sound) or the trial refused; CONFIG and REPLY: text. */
    int reply_to, status;
    int64_t id;
    char text[DISPLAY_TEXT_SIZE];
    presenter_event event;      /* EVENT */
    presenter_summary summary;  /* EVENT of kind BLOCK_END */
} display_message;

/* Bytes display_message_encode writes for `m`. */
size_t display_message_size(const display_message *m);
/* Writes `m` (the payload of IMAGE/SOUND is copied as given: little-endian
 * bytes) into out[0..capacity); returns the size written, 0 if it does not fit
 * or the type is unknown. */
size_t display_message_encode(const display_message *m, uint8_t *out, size_t capacity);
/* Checks everything (magic, version, type, length, sizes of the payloads,
 * ranges); 0 ok, else 1 with the reason. Never reads past `size`. */
int display_message_decode(const uint8_t *bytes, size_t size, display_message *m, char *err);

/* The display side. Runs in the thread that calls display_server_poll; the
 * presenter's own thread keeps the frames going whatever this one does, so a
 * slow or absent controller can never stall a flip (events it cannot take
 * are dropped at the socket's high-water mark and counted). */
typedef struct display_server_config {
    const char *endpoint;   /* bound; NULL: DISPLAY_DEFAULT_ENDPOINT. "tcp://127.0.0.1:*" picks a port */
    int allow_remote;       /* needed for an endpoint beyond loopback */
    int send_hwm;           /* events queued for a slow controller (default 100000) */
    int queue_capacity;     /* the presenter's (presenter_config.queue_capacity; default 4096) */
    int64_t clock_shift_ns; /* added to every display time sent (tests simulate another machine) */
    /* Images and sounds preloaded through the server, counted as the
     * presenter holds them (4 bytes a pixel or sample); one that would go
     * beyond is refused with a reply saying so. 0: DISPLAY_DEFAULT_PRELOAD.
     * Requests larger than this (or than the largest legal message) are
     * dropped on arrival by the socket (ZMQ_MAXMSGSIZE). */
    size_t max_preload_bytes;
} display_server_config;

typedef struct display_server_stats {
    uint64_t messages;       /* valid requests obeyed */
    uint64_t bad_messages;   /* undecodable requests, dropped */
    uint64_t refused;        /* valid requests the presenter refused (a REPLY says why) */
    uint64_t events_sent;
    uint64_t events_dropped; /* no controller, or it did not read */
    char last_error[CONTROLLER_ERR_SIZE];
} display_server_stats;

typedef struct display_server display_server;
int display_server_create(display_server **out, presenter *p, const display_server_config *c,
                          char *err);
void display_server_destroy(display_server *s);
/* The endpoint really bound (the port chosen for "tcp://127.0.0.1:*"). */
const char *display_server_endpoint(const display_server *s);
/* Forwards the presenter's events, waits up to timeout_ms for requests,
 * obeys them, forwards again. Call in a loop. */
void display_server_poll(display_server *s, int timeout_ms);
void display_server_stats_get(const display_server *s, display_server_stats *out);

/* The controller side: mirrors the presenter's calls. Event times arrive on
 * the display's clock and are returned on the controller's (CLOCK_MONOTONIC
 * here), shifted by the offset estimated with ping/pong (DISPLAY.md). */
typedef struct display_client_config {
    const char *endpoint;  /* NULL: DISPLAY_DEFAULT_ENDPOINT */
    int allow_remote;
    int timeout_ms;        /* for answers to HELLO, PING, IMAGE, ... (default 5000) */
    int pings;             /* round trips of the clock estimate (default 32) */
} display_client_config;

typedef struct display_clock {
    int64_t offset_ns;      /* display clock − controller clock */
    int64_t uncertainty_ns; /* half the shortest round trip: the true offset is within ± this */
    int64_t round_trip_ns;  /* shortest round trip */
    int pings;
} display_clock;

typedef struct display_client display_client;
/* Connects, says HELLO (fails after timeout_ms without a CONFIG), and
 * estimates the clock offset. */
int display_client_create(display_client **out, const display_client_config *c, char *err);
void display_client_destroy(display_client *c);
/* Measures the offset again (between blocks: clocks drift apart). */
int display_client_sync_clock(display_client *c, int pings, char *err);
void display_client_clock(const display_client *c, display_clock *out);
const char *display_client_status(const display_client *c); /* the display's presenter_status */
double display_client_period_ms(const display_client *c);
void display_client_drawable_size(const display_client *c, int *width, int *height);
int display_client_add_image(display_client *c, const float *pixels, int height, int width,
                             int *id, char *err);
int display_client_add_sound_samples(display_client *c, const float *samples, int frames,
                                     int channels, int rate, int *id, char *err);
int display_client_start_block(display_client *c, char *err);
/* 0 sent; 1 the display's queue is full (read events first: the client counts
 * the requests the display has not finished); -1 no block, bad request, or
 * the display refused an earlier one (the reason). */
int display_client_submit(display_client *c, const presenter_request *r, char *err);
void display_client_finish_block(display_client *c);
int display_client_next_event(display_client *c, presenter_event *ev, int timeout_ms);
void display_client_block_summary(const display_client *c, presenter_summary *out);
void display_client_abort(display_client *c);
void display_client_set_paused(display_client *c, int paused);
/* Events the display sent that never arrived (sequence gaps); refused submits. */
uint64_t display_client_events_lost(const display_client *c);
/* The server's counters as of the last PONG. */
void display_client_server_counters(const display_client *c, uint64_t *bad_messages,
                                    uint64_t *events_dropped);

/* One interface over either display, for the run loop. */
typedef struct display_ops {
    void *display;
    int (*add_image)(void *display, const float *pixels, int height, int width, int *id,
                     char *err);
    int (*add_sound_samples)(void *display, const float *samples, int frames, int channels,
                             int rate, int *id, char *err);
    int (*start_block)(void *display, char *err);
    int (*submit)(void *display, const presenter_request *r, char *err);
    void (*finish_block)(void *display);
    int (*next_event)(void *display, presenter_event *ev, int timeout_ms);
    void (*block_summary)(void *display, presenter_summary *out);
    void (*abort)(void *display);
    void (*set_paused)(void *display, int paused);
    double (*period_ms)(void *display);
} display_ops;

display_ops display_ops_local(presenter *p);
display_ops display_ops_remote(display_client *c);

/* The run's display (run_display.c): this computer's presenter, or with
 * display.endpoint a remote one (`inception present --serve`), both behind
 * `ops`; event times come on this computer's clock either way. */
typedef struct run_display {
    presenter *local;
    display_client *remote;
    display_ops ops;
    int block_running; /* started, its BLOCK_END not yet seen: closing aborts it */
    char status[512]; /* "display: ...", for the terminal and the record */
} run_display;

/* `realtime_priority` > 0: the local presenter's render thread asks for it
 * (presenter_config.realtime_priority). */
int run_display_open(run_display *d, const protocol *p, int realtime_priority, char *err);
/* A remote display's clock offset measured again (between blocks: clocks
 * drift apart); `note` describes it ("" for the local presenter). */
int run_display_resync(run_display *d, char *note, size_t size, char *err);
/* Safe on a display never opened. A block still running (the run failed or
 * was interrupted mid-block) is aborted first, so the display stops
 * presenting instead of waiting for trials that will never come. */
void run_display_close(run_display *d);

#endif
