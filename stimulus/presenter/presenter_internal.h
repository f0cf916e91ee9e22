/* presenter_internal.h: the presenter's private state, shared by its files
 * (presenter.c: the API the controller calls; presenter_thread.c: the render
 * thread; presenter_queue.c: the one hand-off between them; sound.c). */
#ifndef INCEPTION_PRESENTER_INTERNAL_H
#define INCEPTION_PRESENTER_INTERNAL_H

#include "presenter/presenter.h"

#include <SDL.h>
#include <pthread.h>
#include <stdatomic.h>

/* A bounded FIFO of fixed-size items under one mutex: the only place where
 * the controller's threads and the render thread exchange data. Pushing
 * never blocks (a full ring says so); popping may wait. */
typedef struct presenter_ring {
    pthread_mutex_t lock;
    pthread_cond_t nonempty;
    unsigned char *items;
    size_t item_size;
    int capacity, head, count;
} presenter_ring;

int ring_init(presenter_ring *r, int capacity, size_t item_size);
void ring_free(presenter_ring *r);
int ring_push(presenter_ring *r, const void *item);        /* 0 ok, 1 full */
int ring_pop(presenter_ring *r, void *item, int timeout_ms); /* 1 got, 0 none */
int ring_count(presenter_ring *r);

typedef struct presenter_image {
    int height, width;
    uint8_t *rgba;          /* gamma-corrected, freed once it is a texture */
    SDL_Texture *texture;   /* created and used by the render thread only */
} presenter_image;

typedef struct presenter_sound {
    float *samples;         /* interleaved stereo at the device rate */
    int frames;
} presenter_sound;

/* The one sound playing; guarded by SDL's audio-device lock. */
typedef struct presenter_voice {
    int sound;              /* -1: silence */
    int position;           /* frames already played */
    int64_t trial_serial;   /* which trial started it */
    int64_t onset_ns;       /* 0 until the callback first plays it */
    int64_t onset_sample;   /* its first sample's frame in the device stream; -1 before */
    int64_t device_frames;  /* frames handed to the device since it opened */
} presenter_voice;

/* A trial in progress on the render thread. */
typedef struct presenter_trial {
    presenter_request request;
    int64_t serial;
    int in_isi;
    int count;              /* flips so far in the current phase */
    presenter_event event;  /* filled as the trial goes */
} presenter_trial;

#define PRESENTER_HISTOGRAM_BINS 50000 /* 1 µs bins up to 50 ms */

enum { STATE_IDLE, STATE_START, STATE_RUNNING, STATE_QUIT };

struct presenter {
    presenter_config config;
    gamma_calibration calibration;
    uint8_t lut[GAMMA_TABLE_SIZE];
    pthread_t thread;
    int thread_started;

    /* Control, under `lock`. */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int state;
    int init_done, init_status;
    char init_err[STIMULUS_ERR_SIZE];
    atomic_int abort_requested, paused, finish_requested;

    presenter_image *images;
    int image_count;
    size_t image_capacity;
    presenter_sound *sounds;
    int sound_count;
    size_t sound_capacity;

    presenter_ring requests, events;
    presenter_summary summary;

    /* Render thread only (read by the API once init is done). */
    SDL_Window *window;
    SDL_Renderer *renderer;
    int drawable_width, drawable_height;
    int software_pacing;
    /* No display at all (offscreen, dummy): the software clock plays one,
     * whose refreshes latch the last frame swapped before them
     * (schedule_blank). A real display paced in software instead swaps at
     * the refresh itself (loop_pace), since it shows a swap at once. */
    int emulated_display;
    double period_ns;
    char status[STIMULUS_ERR_SIZE];
    int realtime_error;     /* presenter_realtime */
    int driver_threads;     /* presenter_driver_threads */
    SDL_AudioDeviceID audio;
    int audio_rate;
    presenter_voice voice;
    int32_t *work_histogram, *present_histogram;
};

typedef struct frame_loop {
    presenter *p;
    presenter_summary s;
    presenter_trial trial;
    int active;
    int64_t serial, flips, last_flip_ns; /* last_flip_ns: as measured (see schedule_after_blank) */
    int64_t grid_start_ns, grid_index; /* software clock: flips land on t0 + k·period */
    int photodiode_white;
    double interval_sum, interval_sum2;
} frame_loop;

/* What one flip does to the trial schedule, decided before drawing. */
typedef struct frame_plan {
    int offset;   /* this flip ends the stimulus */
    int ending;   /* this flip ends the trial */
    int starting; /* this flip is the onset of `next` */
    presenter_request next;
} frame_plan;

/* presenter_schedule.c: which trial each flip shows and what was measured,
 * separate from SDL so that tests can drive it with chosen flip times. */
frame_plan schedule_plan(frame_loop *l, int aborting);
void schedule_after_flip(frame_loop *l, const frame_plan *f, int64_t flip_ns, int aborting);
/* The refresh of the grid t0 + k·period that a frame ready at `t` gets: the
 * first at or after t, and at least the one after the last; advances the
 * grid to it. *missed (if not NULL) gets the refreshes passed over. Both
 * software clocks use it: the emulated display (schedule_blank) and a real
 * display paced in software (loop_pace). */
int64_t schedule_next_refresh(frame_loop *l, int64_t t, int *missed);
/* The emulated display (presenter.emulated_display): the refresh that shows
 * a frame swapped at `swapped_ns` is the first one of the grid t0 + k·period
 * after the previous frame's and not before the swap; a swap after the
 * refresh it was drawn for misses that one. Returns the refresh's time, for
 * the render thread to sleep to (as a vsync'd swap would block), and sets
 * *missed to the refreshes passed over. The first frame starts the grid. */
int64_t schedule_blank(frame_loop *l, int64_t swapped_ns, int *missed);
/* After that refresh: `shown_ns` its time (onsets, durations), `woke_ns`
 * when the render thread woke for it (the flip-interval statistics, which
 * so measure its scheduling), `missed` from schedule_blank. */
void schedule_after_blank(frame_loop *l, const frame_plan *f, int64_t shown_ns, int64_t woke_ns,
                          int missed, int aborting);
void schedule_discard_requests(frame_loop *l);
void schedule_summarize(frame_loop *l);
void histogram_add(int32_t *h, int64_t ns);
double histogram_quantile(const int32_t *h, double q);

int64_t presenter_now_ns(void);
void *presenter_thread_main(void *arg);
/* sound.c */
int presenter_audio_open(presenter *p, char *err);
void presenter_audio_close(presenter *p);
void presenter_sound_start(presenter *p, int sound, int64_t trial_serial);
/* The onset of the trial's sound on the presenter's clock (0: not played)
 * and, in *sample, its frame in the device stream (-1: not played);
 * *playing: 1 while it has samples left to hand to the device. */
int64_t presenter_sound_onset(presenter *p, int64_t trial_serial, int64_t *sample,
                              int *playing);
void presenter_sounds_free(presenter *p);

#endif
