/* acquisition.h: spike counts streamed over ZeroMQ, checked for loss and
 * aligned to stimulus onsets. The public header of the acquisition library.
 *
 * Four parts, from the socket inward:
 *   - the wire format (acquisition/WIRE.md): pure encode/decode over bytes,
 *     plus the Open Ephys GUI ZMQ-interface messages (spikes, TTL events);
 *   - the sequence check: gaps, duplicates, late (reordered) messages and
 *     publisher restarts, counted;
 *   - the receiver: a SUB socket on its own thread, handing decoded items to
 *     the consumer through one bounded queue (the only place threads meet);
 *   - the aligner: display-clock onsets matched to acquisition-clock sync
 *     edges (offset + drift by least squares), counts summed per trial over
 *     the response window, trials touched by bad data flagged.
 * And a publisher, for the virtual rig, tests, benchmarks and the display.
 *
 * Functions that can fail return 0 on success and non-zero on failure, with a
 * one-line reason in `err` (ACQ_ERR_SIZE bytes). Nothing here prints. */
#ifndef INCEPTION_ACQUISITION_H
#define INCEPTION_ACQUISITION_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define ACQ_ERR_SIZE 256

/* The library's one error helper (acq_error.c): acq_fail writes the one-line
 * reason into `err` (ACQ_ERR_SIZE bytes; NULL takes none) and returns 1, so a
 * failure is `return acq_fail(err, ...)`. A decoder's rejection is
 * `return acq_fail_reject(err, ACQ_REJECT_..., ...)`: the reason's name
 * (acq_reject_name), ": ", the message, and the reason as the status. */
int acq_fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int acq_fail_reject(char *err, int reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Growable arrays: grow_array (base/grow.h, the project's one). */
#include "grow.h"

/* ------------------------------------------------------------------------ */
/* Wire format, version 1 (WIRE.md). Frames: topic, 48-byte header, payload. */

#define ACQ_WIRE_MAGIC 0x51434E49u /* the bytes "INCQ" read as little-endian uint32 */
#define ACQ_WIRE_VERSION 1
#define ACQ_HEADER_SIZE 48
#define ACQ_EVENT_SIZE 16
#define ACQ_ONSET_SIZE 32
#define ACQ_MAX_UNITS 65536
#define ACQ_MAX_EVENTS 4096
#define ACQ_MAX_IMAGE_PIXELS (1024 * 1024)

typedef enum acq_msg_type {
    ACQ_MSG_COUNTS = 1,    /* one bin of spike counts, one value per unit */
    ACQ_MSG_EVENTS = 2,    /* TTL / sync edges with acquisition timestamps */
    ACQ_MSG_HEARTBEAT = 3, /* no payload: "still here" */
    ACQ_MSG_ONSET = 4      /* display → virtual rig: a stimulus went on screen */
} acq_msg_type;

typedef enum acq_dtype { ACQ_DTYPE_NONE = 0, ACQ_DTYPE_U16 = 1, ACQ_DTYPE_F32 = 2 } acq_dtype;

/* Why a message was dropped; each reason has its own counter. */
typedef enum acq_reject {
    ACQ_OK = 0,
    ACQ_REJECT_FRAMES,    /* wrong number of frames */
    ACQ_REJECT_TOPIC,     /* topic frame does not name the header's type */
    ACQ_REJECT_MAGIC,     /* not one of our messages */
    ACQ_REJECT_VERSION,   /* a wire version we do not speak */
    ACQ_REJECT_TYPE,      /* unknown message or data type, or one this stream does not use */
    ACQ_REJECT_TRUNCATED, /* shorter than its header says */
    ACQ_REJECT_OVERSIZED, /* longer than its header says, or beyond the limits */
    ACQ_REJECT_VALUE,     /* NaN, infinite or negative count, bad field value */
    ACQ_REJECT_JSON,      /* Open Ephys header that is not the JSON we expect */
    ACQ_REJECT_MISMATCH,  /* valid, but not what the stream agreed on (units, bin width) */
    ACQ_REJECT_COUNT
} acq_reject;

const char *acq_reject_name(int reason);

typedef struct acq_frame {
    const uint8_t *data;
    size_t size;
} acq_frame;

typedef struct acq_header {
    uint16_t version, type;
    uint32_t stream_id;
    uint32_t epoch;        /* changes when the publisher restarts */
    uint64_t sequence;     /* per (stream, epoch), every message type, from 0 */
    int64_t timestamp_ns;  /* acquisition clock (onsets: display clock) */
    uint32_t bin_width_ns; /* counts only */
    uint32_t count;        /* units (counts), events (events), 0 otherwise */
    uint16_t dtype;        /* acq_dtype of the payload values */
} acq_header;

typedef struct acq_event {
    int64_t timestamp_ns; /* acquisition clock */
    uint16_t line;
    uint8_t rising;       /* 1 rising edge, 0 falling */
} acq_event;

typedef struct acq_onset {
    uint64_t trial, stimulus_id;
    int64_t onset_ns;     /* display clock: the onset flip (the header's timestamp) */
    int64_t duration_ns;  /* how long the stimulus stays on */
    uint32_t height, width; /* of the attached image; 0×0 when none */
} acq_onset;

/* A decoded message: the header, and the payload as bytes inside the frames. */
typedef struct acq_message {
    acq_header h;
    const uint8_t *payload;
    size_t payload_size;
} acq_message;

/* Decode and validate one multipart message; returns ACQ_OK or the reject
 * reason (with `err` saying what exactly). Counts and images are checked for
 * NaN, infinities and negatives here, so a decoded message is safe to use. */
int acq_decode(const acq_frame *frames, int count, acq_message *m, char *err);
void acq_message_counts(const acq_message *m, float *out);               /* h.count values */
void acq_message_event(const acq_message *m, uint32_t i, acq_event *e);  /* i < h.count */
void acq_message_onset(const acq_message *m, acq_onset *o);
void acq_message_image(const acq_message *m, float *out);                /* height×width */

const char *acq_topic(int type); /* "counts", "events", "heartbeat", "onset" */
void acq_encode_header(const acq_header *h, uint8_t out[ACQ_HEADER_SIZE]);
void acq_encode_event(const acq_event *e, uint8_t out[ACQ_EVENT_SIZE]);
void acq_encode_onset(const acq_onset *o, uint8_t out[ACQ_ONSET_SIZE]);

/* ------------------------------------------------------------------------ */
/* Open Ephys GUI, ZMQ Interface plugin (v1.0): envelope, JSON header, payload. */

typedef enum acq_oe_kind {
    ACQ_OE_DATA = 1,  /* continuous samples: only its sample number is used (a clock tick) */
    ACQ_OE_TTL = 2,   /* a TTL event */
    ACQ_OE_SPIKE = 3, /* a detected spike */
    ACQ_OE_OTHER = 4  /* a well-formed event of a kind we do not use */
} acq_oe_kind;

typedef struct acq_oe_message {
    int kind;
    uint64_t message_num;
    int64_t sample_num;  /* spike peak / event / first sample of a data block */
    int64_t num_samples; /* data blocks */
    double sample_rate;  /* data blocks carry it; 0 when absent */
    int sorted_id;       /* spikes: the Spike Sorter's unit, numbered from 1; 0 unsorted */
    int electrode_number; /* spikes: the number ending the electrode's name; -1 none */
    char electrode[48];  /* spikes: the electrode's name ("Tetrode 2"), cut at 47 bytes */
    int line, state;     /* TTLs */
} acq_oe_message;

/* Open Ephys messages are at most this big: a 64 KiB JSON header, and a
 * payload of up to 262,144 float32 samples (a data block or a spike's
 * waveforms); larger frames are refused by the socket (ZMQ_MAXMSGSIZE). */
#define ACQ_OE_MAX_FRAME (1 << 20)

int acq_oe_decode(const acq_frame *frames, int count, acq_oe_message *m, char *err);

/* The plugin's JSON headers, written as its JSON::toString writes them
 * (multi-line, CRLF, two-space indent, its property order), for a stream
 * published again in its format (`inception replay --stream --format
 * openephys`). Each returns the header's length (NUL not counted), or 0 when
 * it does not fit `size`. `timestamp_ms` the sender's Unix ms. */
size_t acq_oe_spike_header(char *out, size_t size, uint64_t message_num, const char *electrode,
                           int64_t sample_num, int sorted_id, int64_t timestamp_ms);
size_t acq_oe_ttl_header(char *out, size_t size, uint64_t message_num, int64_t sample_num,
                         int64_t timestamp_ms);
/* The block the receiver assumes around a lost message until data blocks
 * say more (their num_samples, when larger): a gap's span reaches this far
 * past its neighbours' samples. */
#define ACQ_OE_DEFAULT_BLOCK 1024
/* Open Ephys: a bin closes once a sample this many bins (and two blocks) past its end
 * was seen (the receiver's binner grace). */
#define ACQ_OE_GRACE_BINS 2
size_t acq_oe_data_header(char *out, size_t size, uint64_t message_num, int64_t sample_num,
                          int64_t num_samples, double sample_rate, int64_t timestamp_ms);

/* The unit map: which column of the counts a spike goes to. Sorted units
 * (sorted_id 1…units, numbered over all electrodes by the Spike Sorter) are
 * columns 0…units−1; an unsorted spike (sorted_id 0) goes to its electrode's
 * own column units + n − 1, n the number ending the electrode's name
 * (1…electrodes). Otherwise one of the negative reasons below. */
#define ACQ_OE_SORTED_BEYOND (-1)     /* sorted_id above `units` */
#define ACQ_OE_UNSORTED_LEFT_OUT (-2) /* unsorted, and electrodes is 0: left out on purpose */
#define ACQ_OE_UNSORTED_UNMAPPED (-3) /* unsorted, its electrode's number not in 1…electrodes */
int acq_oe_column(const acq_oe_message *m, int units, int electrodes);

/* Spikes binned into counts on the acquisition clock (sample / rate), bins
 * aligned to multiples of the bin width. Bins close once a sample at least
 * `grace_bins` past their end has been seen, so slightly out-of-order spikes
 * across electrodes still land. */
typedef struct acq_binner acq_binner;
typedef void (*acq_bin_sink)(void *ctx, int64_t start_ns, uint32_t width_ns, const float *counts,
                             int units);
int acq_binner_create(acq_binner **out, int units, double sample_rate, uint32_t bin_width_ns,
                      int grace_bins, char *err);
void acq_binner_destroy(acq_binner *b);
int64_t acq_binner_time_ns(const acq_binner *b, int64_t sample);
/* Returns 1 when the spike was too late for a closed bin or its unit out of range. */
int acq_binner_add_spike(acq_binner *b, int unit, int64_t sample, acq_bin_sink sink, void *ctx);
void acq_binner_advance(acq_binner *b, int64_t sample, acq_bin_sink sink, void *ctx);
/* Keeps bins open `samples` longer (spikes of a block may lag its clock). */
void acq_binner_set_hold(acq_binner *b, int64_t samples);
/* Emits every open bin that ended before the newest sample seen. */
void acq_binner_flush(acq_binner *b, acq_bin_sink sink, void *ctx);
void acq_binner_reset(acq_binner *b);

/* ------------------------------------------------------------------------ */
/* Sequence check. Messages must arrive with consecutive sequence numbers
 * within an epoch; the last `ACQ_SEQ_WINDOW` are remembered to tell a
 * duplicate from a late (reordered) one. */

#define ACQ_SEQ_WINDOW 64

typedef enum acq_seq_verdict {
    ACQ_SEQ_NEXT = 0,  /* the expected one */
    ACQ_SEQ_GAP,       /* ahead: `missed` messages skipped (maybe late, maybe lost) */
    ACQ_SEQ_LATE,      /* behind, not seen before: a reordered message, fills a gap */
    ACQ_SEQ_DUPLICATE, /* seen before: drop it */
    ACQ_SEQ_RESTART    /* new epoch, or far behind: the publisher restarted */
} acq_seq_verdict;

typedef struct acq_sequence {
    int started;
    uint32_t epoch;
    uint64_t next;  /* one past the highest sequence number seen */
    uint64_t seen;  /* bit i: next-1-i was seen */
    uint64_t gaps, late, duplicates, restarts; /* messages skipped, arrived late, ... */
} acq_sequence;

void acq_sequence_init(acq_sequence *s);
int acq_sequence_check(acq_sequence *s, uint32_t epoch, uint64_t sequence, uint64_t *missed);
/* Messages skipped and never seen since: the loss as far as sequence numbers tell. */
uint64_t acq_sequence_lost(const acq_sequence *s);

/* ------------------------------------------------------------------------ */
/* Endpoints and CURVE keys, shared by the receiver and the publisher. */

typedef struct acq_socket_config {
    const char *endpoint; /* default tcp://127.0.0.1:5556 */
    int bind;             /* 1 bind, 0 connect */
    int allow_remote;     /* non-loopback endpoints are refused unless set */
    /* CURVE (optional): a file holding a Z85 secret key (40 characters; the
     * public key is derived from it). The server side (the publisher) needs
     * only its secret; the client side (the subscriber) its own secret and the
     * server's public key (a file holding 40 Z85 characters). */
    const char *curve_secret_file;
    const char *curve_server_public_file;
    /* Server side only (optional): an allow-list file of client public keys
     * (one Z85 key a line, '#' comments). With it the publisher runs a ZAP
     * handler (acq_zap) and refuses CURVE clients whose key is not listed;
     * without it any client that knows the server's public key is served. */
    const char *curve_clients_file;
    int hwm;              /* send/receive high-water mark in messages; 0: 10000 */
    int64_t max_frame;    /* receiving sockets: ZMQ_MAXMSGSIZE, bytes; 0 none (the
                           * receiver sets its format's largest legal frame) */
} acq_socket_config;

/* 0 when the endpoint is loopback (tcp to 127.0.0.1/localhost/[::1], ipc,
 * inproc) or allow_remote is set. */
int acq_endpoint_check(const char *endpoint, int allow_remote, char *err);

/* ------------------------------------------------------------------------ */
/* Publisher: a PUB socket writing the native format (never blocks). */

typedef struct acq_publisher acq_publisher;

/* `zmq_context` may be NULL (the publisher makes its own); pass a shared one
 * for inproc:// endpoints. */
int acq_publisher_create(acq_publisher **out, void *zmq_context, const acq_socket_config *c,
                         uint32_t stream_id, uint32_t epoch, char *err);
void acq_publisher_destroy(acq_publisher *p);
/* CURVE handshakes the publisher's ZAP handler answered (both 0 without
 * curve_clients_file). */
typedef struct acq_publisher_stats {
    uint64_t clients_accepted, clients_refused;
} acq_publisher_stats;
void acq_publisher_get_stats(acq_publisher *p, acq_publisher_stats *out);
/* Starts a new epoch with sequence 0, as a restarted publisher would. */
void acq_publisher_restart(acq_publisher *p, uint32_t epoch);
uint64_t acq_publisher_sequence(const acq_publisher *p); /* the next one to be used */
/* Each returns 0 when ZeroMQ accepted the message (a PUB drops silently at
 * the HWM; that is the subscriber's loss to detect). */
int acq_publisher_counts(acq_publisher *p, int64_t t_ns, uint32_t bin_width_ns,
                         const float *counts, uint32_t units, int dtype);
int acq_publisher_events(acq_publisher *p, int64_t t_ns, const acq_event *events, uint32_t count);
int acq_publisher_heartbeat(acq_publisher *p, int64_t t_ns);
int acq_publisher_onset(acq_publisher *p, const acq_onset *o, const float *image);
/* Skips one sequence number without sending: fault injection (message loss). */
void acq_publisher_skip(acq_publisher *p);
/* Encodes the next message into a buffer instead of sending it (reordering
 * for fault tests): frames go to acq_publisher_send_frames later. */
typedef struct acq_encoded {
    uint8_t header[ACQ_HEADER_SIZE];
    int type;
    uint8_t *payload;
    size_t payload_size;
} acq_encoded;
int acq_publisher_encode_counts(acq_publisher *p, int64_t t_ns, uint32_t bin_width_ns,
                                const float *counts, uint32_t units, int dtype, acq_encoded *e);
int acq_publisher_encode_events(acq_publisher *p, int64_t t_ns, const acq_event *events,
                                uint32_t count, acq_encoded *e);
int acq_publisher_encode_heartbeat(acq_publisher *p, int64_t t_ns, acq_encoded *e);
int acq_publisher_send_encoded(acq_publisher *p, acq_encoded *e); /* frees e's payload */

/* ------------------------------------------------------------------------ */
/* ZAP (ZeroMQ's RFC 27): the CURVE server authenticating its clients. One per
 * ZeroMQ context, bound to inproc://zeromq.zap.01 and answering on its own
 * thread: CURVE clients whose public key is in `allow_file` are accepted,
 * every other handshake is refused (the client then receives nothing). Create
 * it before the server socket binds; destroy it after that socket closes. The
 * publisher does both itself when given curve_clients_file. */

typedef struct acq_zap acq_zap;

int acq_zap_create(acq_zap **out, void *zmq_context, const char *allow_file, char *err);
void acq_zap_destroy(acq_zap *z);
size_t acq_zap_keys(const acq_zap *z);   /* keys on the list */
uint64_t acq_zap_accepted(acq_zap *z);   /* handshakes answered 200 */
uint64_t acq_zap_refused(acq_zap *z);    /* handshakes answered 400/500 */
/* The allow-list text: blank lines, lines starting with '#', or a 40-character
 * Z85 key optionally followed by whitespace and a '#' comment. On success
 * *keys holds *count × 32 raw bytes (free them); errors name `name` and the
 * line. An empty list is an error. */
int acq_curve_allow_parse(const char *text, size_t size, const char *name, uint8_t **keys,
                          size_t *count, char *err);

/* ------------------------------------------------------------------------ */
/* Receiver: SUB socket on its own thread; items through one bounded queue. */

typedef enum acq_format { ACQ_FORMAT_NATIVE = 0, ACQ_FORMAT_OPENEPHYS = 1 } acq_format;

typedef struct acq_receiver_config {
    acq_socket_config socket;
    int format;
    int queue_capacity;   /* items; when full, new items are dropped and counted */
    const char *topic;    /* subscription prefix; NULL: everything */
    /* Open Ephys: spikes are binned here, columns by the unit map (acq_oe_column) */
    int units;            /* sorted units */
    int electrodes;       /* columns for unsorted spikes; 0 leaves them out */
    double sample_rate;
    uint32_t bin_width_ns;
    /* Open Ephys: a heartbeat to the plugin's REQ/REP port (data port + 1)
     * every 2 s, so the plugin lists us as connected; tcp endpoints only. */
    int heartbeat;
    const char *heartbeat_endpoint; /* NULL: the data endpoint's port + 1 */
} acq_receiver_config;

void acq_receiver_config_default(acq_receiver_config *c);

/* Item flags: what happened just before this item on the stream. */
#define ACQ_ITEM_AFTER_GAP 1u       /* sequence numbers were skipped before it */
#define ACQ_ITEM_LATE 2u            /* it arrived after later ones (reordered) */
#define ACQ_ITEM_RESTART 4u         /* first item of a restarted publisher */
#define ACQ_ITEM_AFTER_OVERFLOW 8u  /* the queue dropped items before it */
#define ACQ_ITEM_CLOCK_RESET 16u    /* the acquisition clock may have restarted: fit it anew */

/* Not a wire type: an item saying that data between timestamp_ns and
 * until_ns (acquisition clock) may have been lost (a gap in the sequence
 * bounded by the messages on either side, or a spike too late for its bin). */
#define ACQ_ITEM_LOSS 100

/* Not a wire type: Open Ephys spikes as they came, every decoded spike
 * (those in no column too), in arrival order: a batch handed over
 * ACQ_SPIKE_BATCH_NS after its first spike arrived, when ACQ_SPIKE_BATCH
 * spikes or ACQ_SPIKE_ELECTRODES electrode names are pending, at a GUI stop
 * and start (a batch holds one clock's sample numbers) and when the receiver
 * stops. For the session record; the bins carry the counts. */
#define ACQ_ITEM_SPIKES 101
#define ACQ_SPIKE_BATCH 4096
#define ACQ_SPIKE_ELECTRODES 255
#define ACQ_SPIKE_BATCH_NS 100000000LL

typedef struct acq_item {
    int type;              /* acq_msg_type */
    uint32_t flags;
    uint64_t missed_before;
    int64_t timestamp_ns;
    uint32_t bin_width_ns;
    int64_t received_ns;   /* CLOCK_MONOTONIC when its last frame arrived */
    uint32_t count;        /* units, events */
    float *counts;         /* counts: `count` values */
    acq_event *events;     /* events: `count` edges */
    acq_onset onset;       /* onsets */
    int64_t until_ns;      /* ACQ_ITEM_LOSS: the end of the span */
    float *image;          /* onsets with an image: height×width, else NULL */
    /* ACQ_ITEM_SPIKES: `count` spikes: the peak's sample number, the Spike
     * Sorter's sorted_id (0 unsorted) and an index into `electrodes`, the
     * names as the plugin sent them (cut at 47 bytes), joined by newlines
     * (a name holds none: JSON escapes are kept as their letter).
     * received_ns is the last spike's arrival, first_received_ns the first's. */
    int64_t *spike_samples;
    int32_t *spike_sorted_ids;
    uint8_t *spike_electrodes;
    char *electrodes;
    uint32_t electrode_count;
    int64_t first_received_ns;
} acq_item;

typedef struct acq_stats {
    uint64_t messages, accepted, heartbeats;
    uint64_t rejected[ACQ_REJECT_COUNT];
    uint64_t gaps, late, duplicates, restarts, lost; /* from the sequence check */
    uint64_t queue_dropped;
    uint64_t late_spikes;   /* Open Ephys spikes for bins already closed */
    uint64_t spikes, spikes_dropped; /* Open Ephys spikes handed over in ACQ_ITEM_SPIKES
                                      * batches; in batches the full queue dropped */
    /* Open Ephys unit map (acq_oe_column): spikes in no column, by reason */
    uint64_t sorted_beyond, unsorted_left_out, unsorted_unmapped;
    int max_sorted_id;      /* the highest sorted_id seen */
    uint64_t loss_spans;    /* spans of possible loss sent to the aligner */
    double stream_sample_rate; /* Open Ephys: content.sample_rate of the data blocks; 0 none */
    int rate_mismatch;      /* it differs from the configured rate: bins are no longer made */
    uint64_t heartbeats_sent, heartbeat_replies; /* Open Ephys plugin heartbeat */
    uint64_t reconnects;    /* connections dropped (e.g. a frame over the size limit) and made anew */
    int64_t last_heartbeat_ns; /* receive time, CLOCK_MONOTONIC; 0 never */
    char last_error[ACQ_ERR_SIZE]; /* the last rejection's reason, whatever its kind */
    char last_rejected[ACQ_REJECT_COUNT][ACQ_ERR_SIZE]; /* the last one of each kind */
} acq_stats;

typedef struct acq_receiver acq_receiver;

int acq_receiver_create(acq_receiver **out, void *zmq_context, const acq_receiver_config *c,
                        char *err);
void acq_receiver_destroy(acq_receiver *r); /* stops the thread, frees queued items */
/* Stops the thread, which hands over the spikes it still holds (Open Ephys);
 * what is queued can still be popped until acq_receiver_destroy. */
void acq_receiver_stop(acq_receiver *r);
/* The receiving thread, for a caller that sets its scheduling (priority, CPU). */
pthread_t acq_receiver_thread(const acq_receiver *r);
/* Waits up to timeout_ms for an item; returns 1 with *item set (free it with
 * acq_item_free), 0 on time-out. */
int acq_receiver_pop(acq_receiver *r, acq_item **item, int timeout_ms);
void acq_item_free(acq_item *item);
void acq_receiver_stats(acq_receiver *r, acq_stats *out);
/* Open Ephys: the electrode whose spikes a column counted ("" none yet);
 * 1 when the column is not on the unit map. */
int acq_receiver_column_electrode(acq_receiver *r, int column, char *out, size_t size);
/* Open Ephys: the unit map as JSON text (WIRE.md), to free; NULL otherwise. */
char *acq_receiver_unit_map(acq_receiver *r);
int64_t acq_now_ns(void); /* CLOCK_MONOTONIC */

/* ------------------------------------------------------------------------ */
/* Aligner: onsets (display clock) ↔ sync edges (acquisition clock), fit
 * acq = offset + (1 + drift) · display by least squares over matched pairs;
 * then per trial the counts of the bins whose centre lies in
 * [onset + latency, onset + latency + window) on the acquisition clock. */

/* The default match tolerance (5 ms); the protocol's ISI jitter is sized
 * against it (docs/timing.md). */
#define ACQ_MATCH_TOLERANCE_NS 5000000

typedef struct acq_align_config {
    int units;                /* 0: taken from the first bin */
    int64_t latency_ns;       /* default 50 ms */
    int64_t window_ns;        /* default 500 ms */
    int64_t match_tolerance_ns; /* sync edge within this of its predicted time;
                                   default ACQ_MATCH_TOLERANCE_NS */
    int sync_line;            /* -1: any line */
    int grace_bins;           /* a missing bin is lost once this many later ones arrived; default 3 */
    int64_t history_ns;       /* bins kept for onsets that arrive late; default 4 s */
    int min_initial_matches;  /* onsets agreeing on the first offset; default 3 */
    /* For the first offset only: an onset and an edge whose messages both carry
     * arrival times pair up only when they arrived this close; default 500 ms,
     * 0 no limit. Keeps a stream that connected late from locking onto a
     * coincidental rhythm. */
    int64_t max_arrival_gap_ns;
    /* 1: the gaps between onsets are jittered (timing.isi_jitter_frames,
     * docs/timing.md), so a tie in the first vote waits for the next onsets
     * (align.c tie_undecided); 0: only where the voting onsets' intervals
     * are seen to differ. */
    int jittered_onsets;
} acq_align_config;

void acq_align_config_default(acq_align_config *c);

/* Trial flags: set means "do not trust this row". */
#define ACQ_TRIAL_LOST 1u       /* a bin of its window never arrived (or arrived too late) */
#define ACQ_TRIAL_DUPLICATE 2u  /* two different bins claimed one slot of its window */
#define ACQ_TRIAL_NO_SYNC 4u    /* no sync edge matched its onset: placed by the clock fit */
#define ACQ_TRIAL_AMBIGUOUS 8u  /* more than one edge could be its sync edge */
#define ACQ_TRIAL_RESTART 16u   /* the publisher restarted during its window */
#define ACQ_TRIAL_STALE 32u     /* its bins had left the history before it could be summed */
#define ACQ_TRIAL_MISMATCH 64u  /* bins of another width or unit count arrived in its window */

typedef struct acq_trial {
    uint64_t trial, stimulus_id;
    int64_t onset_display_ns;
    int64_t onset_acq_ns;     /* where its window was anchored */
    int64_t sync_edge_ns;     /* the matched edge; 0 when none */
    uint32_t flags;
    int bins;                 /* bins summed */
    int64_t completed_ns;     /* CLOCK_MONOTONIC when it became complete */
    int64_t onset_received_ns; /* when its onset reached the aligner; 0 unknown */
    /* What its counts depend on, acquisition clock: its window and the bins
     * it summed (a bin whose centre lies in the window reaches up to half a
     * bin past it); a span of possible loss overlapping it flags the trial.
     * Both 0 when nothing was summed. */
    int64_t counted_from_ns, counted_to_ns;
} acq_trial;

/* The fit: acq = acq0 + offset_ns + (1 + drift) · (display − display0). */
typedef struct acq_clock_fit {
    int pairs;
    int64_t display0, acq0;  /* the first matched pair, to keep the doubles small */
    double offset_ns, drift;
    double rms_residual_ns;  /* of the least-squares fit over all pairs */
    double max_residual_ns;  /* largest |edge − prediction| when an edge was matched */
    uint64_t unmatched_edges, missing_edges, ambiguous, stale_bins, duplicate_bins,
        rejected_bins;
    uint64_t clock_restarts; /* ACQ_ITEM_CLOCK_RESET items: the fit began anew */
} acq_clock_fit;

typedef struct acq_aligner acq_aligner;

int acq_aligner_create(acq_aligner **out, const acq_align_config *c, char *err);
void acq_aligner_destroy(acq_aligner *a);
/* `received_ns` (CLOCK_MONOTONIC when the onset or edge reached us; 0 when
 * unknown) only settles which edge is the first onset's when the stimulus
 * rhythm is regular: the pairing whose arrivals are closest wins. */
int acq_aligner_add_onset(acq_aligner *a, uint64_t trial, uint64_t stimulus_id,
                          int64_t onset_display_ns, int64_t received_ns, char *err);
void acq_aligner_add_sync(acq_aligner *a, int64_t t_acq_ns, int line, int rising,
                          int64_t received_ns);
/* One bin. `item_flags` are the receiver's (ACQ_ITEM_*): a restart marks the
 * time since the previous bin. Returns ACQ_OK or ACQ_REJECT_MISMATCH. */
int acq_aligner_add_bins(acq_aligner *a, int64_t start_ns, uint32_t width_ns, const float *counts,
                         int units, uint32_t item_flags, char *err);
/* Convenience: route one receiver item to the calls above. */
int acq_aligner_add_item(acq_aligner *a, const acq_item *item, char *err);
/* Returns 1 and fills *t and counts (units values) with the oldest trial
 * whose window is complete (or given up on), 0 when none is ready. Trials
 * come out in the order their onsets were added. */
int acq_aligner_next_complete_trial(acq_aligner *a, acq_trial *t, float *counts);
/* End of stream: everything pending becomes complete (flagged as needed). */
void acq_aligner_finish(acq_aligner *a);
void acq_aligner_clock(const acq_aligner *a, acq_clock_fit *out);
int acq_aligner_units(const acq_aligner *a);
/* Display → acquisition clock through the current fit (0 pairs: NaN-free identity). */
int64_t acq_aligner_map(const acq_aligner *a, int64_t display_ns);

#endif
