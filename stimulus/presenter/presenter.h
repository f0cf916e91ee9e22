/* presenter.h: the presenter library's one public header: what is shown to
 * the animal and when (the SDL2 display, timing, photodiode, sounds at
 * onsets, gamma calibration) and the images written to files (PNG, the font,
 * galleries). It depends on SDL2, libsndfile and libpng, nothing of model/.
 *
 * Conventions: images are float32 luminance in [0,1], H×W row-major, a batch
 * stored image after image; functions that can fail return 0 on success and
 * non-zero on failure with a one-line reason in `err` (STIMULUS_ERR_SIZE
 * bytes); nothing here prints. */
#ifndef INCEPTION_PRESENTER_H
#define INCEPTION_PRESENTER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "stimulus_base.h"

/* ---- Presentation: display, timing, photodiode, sound ---- */

/* Gamma calibration. A calibration file is text, one measurement a line:
 *     # comments and blank lines are ignored
 *     level luminance
 * `level` is the 8-bit drive level sent to the display (0..255, strictly
 * increasing from line to line), `luminance` what a photometer read at that
 * level (cd/m², any unit, non-decreasing). At least two lines; the first and
 * last levels bound what can be shown. The inverse table maps a requested
 * linear luminance in [0,1] (0 = the darkest measured level, 1 = the
 * brightest) to the drive level whose interpolated luminance matches it. */
#define GAMMA_TABLE_SIZE 4096
#define GAMMA_MAX_POINTS 256

typedef struct gamma_calibration {
    int count;
    float level[GAMMA_MAX_POINTS];     /* drive level, 0..255 */
    float luminance[GAMMA_MAX_POINTS]; /* measured */
} gamma_calibration;

int gamma_parse(const char *text, size_t size, const char *name, gamma_calibration *out,
                char *err);
int gamma_read(const char *path, gamma_calibration *out, char *err);
int gamma_write(const char *path, const gamma_calibration *cal, char *err);
/* Luminance in [0,1] → drive level 0..255, GAMMA_TABLE_SIZE entries. A NULL
 * calibration gives the identity (level = round(255 × luminance)). */
void gamma_inverse_table(const gamma_calibration *cal, uint8_t table[GAMMA_TABLE_SIZE]);
/* Measured luminance normalized to [0,1] at a (fractional) drive level,
 * interpolated linearly between measurements: the forward curve. */
float gamma_forward(const gamma_calibration *cal, float level);
static inline uint8_t gamma_level(const uint8_t table[GAMMA_TABLE_SIZE], float luminance)
{
    if (!(luminance > 0.0f))
        return table[0];
    if (luminance >= 1.0f)
        return table[GAMMA_TABLE_SIZE - 1];
    return table[(int)(luminance * (GAMMA_TABLE_SIZE - 1) + 0.5f)];
}

/* Geometry: the size on screen of a stimulus centred on the line of sight. */
typedef struct display_geometry {
    float screen_width_cm;      /* physical width of the picture */
    float viewing_distance_cm;  /* eye to screen */
    int screen_width_px;        /* pixels across that width */
} display_geometry;
/* Pixels spanned by `degrees` of visual angle centred on the line of sight:
 * 2 d tan(deg/2) cm, times pixels per cm. */
float geometry_degrees_to_pixels(const display_geometry *g, float degrees);
/* Pixels per degree at the screen's centre (small-angle). */
float geometry_pixels_per_degree(const display_geometry *g);

typedef enum presenter_corner {
    PRESENTER_TOP_LEFT = 0,
    PRESENTER_TOP_RIGHT,
    PRESENTER_BOTTOM_LEFT,
    PRESENTER_BOTTOM_RIGHT,
} presenter_corner;

typedef enum presenter_pacing {
    PRESENTER_PACING_AUTO = 0, /* vsync when flips wait for it, else software */
    PRESENTER_PACING_VSYNC,    /* trust vsync (fail if the driver has none) */
    PRESENTER_PACING_SOFTWARE, /* a software clock at refresh_hz, whatever the display */
} presenter_pacing;

typedef struct presenter_config {
    int display;              /* SDL display index */
    int fullscreen;           /* 1: desktop-resolution full screen; 0: a window */
    int width, height;        /* window size when not full screen */
    float refresh_hz;         /* nominal refresh rate; the software clock's rate */
    presenter_pacing pacing;
    float background;         /* luminance in [0,1], default 0.5 */
    /* Photodiode patch: a square in a corner, toggled at every stimulus onset. */
    int photodiode_size_px;   /* 0: no patch */
    presenter_corner photodiode_corner;
    int photodiode_first_white; /* polarity: 1 first onset white, 0 first onset black */
    /* Geometry: how big a stimulus is drawn. */
    float screen_width_cm;
    float viewing_distance_cm;
    float stimulus_width_deg; /* height follows the image's aspect; <= 0: fill the screen */
    float center_x_deg, center_y_deg; /* stimulus centre from the screen centre (right, up) */
    const gamma_calibration *calibration; /* NULL: drive levels = 255 × luminance */
    int audio;                /* 1: open an audio device for sounds */
    int audio_rate;           /* sample rate of the device (default 48000) */
    /* The audio sync marker (docs/audio.md): > 0, every sound plays on the
     * left channel only and the right channel carries a full-scale pulse this
     * many ms long from the sound's first sample (for the acquisition
     * system's analog input); 0: the sound on both channels. */
    float audio_sync_ms;
    /* For tests and checks: the first audio_capture_frames stereo frames the
     * audio callback hands to the device are copied to audio_capture
     * (interleaved, owned by the caller); NULL: none. */
    float *audio_capture;
    int audio_capture_frames;
    int queue_capacity;       /* requests queued at once (default 4096; events: 4×, late flips too) */
    /* > 0: the render thread asks for SCHED_FIFO at this priority (1..99)
     * first thing, before it opens the display, so that the threads the
     * driver starts for it (Mesa's llvmpipe rasterizers) are real-time too;
     * they are then put 3 steps lower, so that the render thread (and in a run
     * the receiver and the aligning run loop) preempts
     * them (presenter_driver_threads). A refusal is no error:
     * presenter_realtime says what came of it. */
    int realtime_priority;
} presenter_config;

/* Frames of the audio device's buffer: a sound starts with the next buffer
 * after its onset flip, up to this many frames later. */
#define PRESENTER_AUDIO_BUFFER_FRAMES 256

/* A config with the defaults: windowed 800×600, 60 Hz, auto pacing,
 * background 0.5, 40 px photodiode patch bottom-left starting white,
 * 53 cm wide screen at 57 cm (≈ 1 cm per degree), 20° stimuli, no audio. */
presenter_config presenter_config_default(void);

/* One request: show an image (and/or start a sound) for `frames` frames,
 * then the background for `isi_frames`. frames = 0 holds the stimulus until
 * the next request arrives (calibration, display checks). */
typedef struct presenter_request {
    int64_t trial;       /* carried through to the event */
    int image;           /* id from presenter_add_image, or -1 for background only */
    int sound;           /* id from presenter_add_sound, or -1 */
    int frames;
    int isi_frames;
    /* Optional: the onset frame read back (RGBA8888, width × height × 4 bytes
     * of the drawable, see presenter_drawable_size) before it is shown;
     * the caller owns the buffer until the trial's event arrives. Slow: for
     * tests and display checks, not experiments. */
    uint8_t *capture;
} presenter_request;

/* Flags of an event. */
enum {
    PRESENTER_WRONG_DURATION = 1 << 0, /* measured frames on screen != requested */
    PRESENTER_DROPPED_FRAMES = 1 << 1, /* an inter-flip interval > 1.5 periods during the trial */
    PRESENTER_LATE_ONSET = 1 << 2,     /* the onset flip itself came > 1.5 periods late */
    PRESENTER_ABORTED = 1 << 3,        /* Escape / presenter_abort cut the trial short */
    PRESENTER_CAPTURED = 1 << 4,       /* the onset frame was read back into `capture` */
    PRESENTER_SOUND_PLAYED = 1 << 5,   /* the sound started; sound_onset_ns is valid */
    PRESENTER_SOUND_CUT = 1 << 6,      /* its ISI ended before its sound did (the next sound
                                          cuts it): the trial is longer than its sound plus
                                          the device's buffer, or the device lags */
};

typedef enum presenter_event_kind {
    PRESENTER_EVENT_ONSET = 0, /* right after the onset flip: trial, stimulus, flip, time */
    PRESENTER_EVENT_TRIAL,     /* the trial's ISI is over: everything measured */
    PRESENTER_EVENT_BLOCK_END, /* the last event of a block; summary ready */
    PRESENTER_EVENT_FLIP,      /* a late flip that is not an onset (see below) */
} presenter_event_kind;

/* Dropped frames are reported flip by flip: every flip that came more than
 * 1.5 periods after the one before has its `dropped_frames` (the frames
 * missed before it) in exactly one event: the ONSET event when it is an
 * onset flip (the late onset), else a FLIP event with `trial` the trial on
 * screen (-1: none), `onset_flip` the flip's counter, `onset_ns` its time.
 * So the events' dropped_frames add up to the summary's dropped_frames. A
 * TRIAL event's dropped_frames are the frames missed while it was on screen
 * (stimulus and ISI; the interval that ends at its last flip included). */

typedef struct presenter_event {
    presenter_event_kind kind;
    int64_t trial;
    int image, sound;
    int64_t onset_flip;     /* flip counter of the block (0 = first flip) */
    int64_t onset_ns;       /* CLOCK_MONOTONIC right after the onset swap returned */
    int64_t offset_ns;      /* the flip that ended the stimulus (TRIAL events) */
    int64_t end_ns;         /* the flip that ended the ISI (TRIAL events) */
    int64_t sound_onset_ns; /* first samples handed to the audio device */
    /* The frame of the device's output stream (0 = the first frame handed to
     * it since it opened) that holds the sound's first sample: its onset,
     * sample-accurate on the device's clock (-1: not played) */
    int64_t sound_onset_sample;
    int frames_requested, isi_requested;
    int frames_shown;       /* measured: round((offset - onset) / period) */
    int isi_shown;
    int dropped_frames;     /* frames missed: see above, per kind */
    int flags;
} presenter_event;

typedef struct presenter_summary {
    int64_t trials_shown;     /* TRIAL events (aborted one included) */
    int64_t trials_discarded; /* requests still queued at an abort */
    int64_t wrong_durations;
    int64_t trials_with_drops;
    int64_t dropped_frames;   /* over the whole block, idle frames included */
    int64_t flips;
    int64_t idle_flips;       /* flips with no trial on screen (queue empty, paused) */
    int64_t events_lost;      /* the event queue was full (drain it faster) */
    int aborted;
    double period_ms;         /* the period used to count frames */
    double interval_mean_ms, interval_sd_ms, interval_max_ms; /* flip-to-flip */
    double frame_work_median_ms, frame_work_p99_ms; /* draw + photodiode + timestamp */
    double present_median_ms; /* the swap call itself (vsync wait included) */
} presenter_summary;

typedef struct presenter presenter;

/* Opens the window and renderer on the presenter's own thread, measures the
 * refresh period, and waits for a block. */
int presenter_create(presenter **out, const presenter_config *config, char *err);
void presenter_destroy(presenter *p);
/* "vsync, measured 16.667 ms (60.00 Hz nominal 60)" or
 * "software clock at 144 Hz (driver offscreen: no vsync)". */
const char *presenter_status(const presenter *p);
/* The render thread, for a caller that sets its scheduling (priority, CPU):
 * its frame path allocates nothing and touches no file once a block runs. */
pthread_t presenter_thread(const presenter *p);
/* 0: the render thread runs at config.realtime_priority; else the errno of
 * the refusal (EPERM: no privilege), or -1 when none was asked for. */
int presenter_realtime(const presenter *p);
/* How many threads the video driver started as the display opened (Linux;
 * 0 elsewhere or without real time): they run at SCHED_FIFO
 * realtime_priority − 2 (SCHED_OTHER where that is below 1). */
int presenter_driver_threads(const presenter *p);
double presenter_period_ms(const presenter *p);
/* Durations are frames; this rounds milliseconds to the nearest whole number
 * of (measured) periods and gives the duration that will really be shown,
 * so that the caller can say it was rounded. */
int presenter_ms_to_frames(const presenter *p, double ms, double *actual_ms);
void presenter_drawable_size(const presenter *p, int *width, int *height);
/* The stimulus rectangle in drawable pixels. */
void presenter_stimulus_rect(const presenter *p, int image_height, int image_width, int *x,
                             int *y, int *w, int *h);

/* Preload, between blocks only. Images are gamma-corrected and become
 * textures before the block's first frame; ids count from 0. */
int presenter_add_image(presenter *p, const float *pixels, int height, int width, int *id,
                        char *err);
/* WAV, FLAC or whatever libsndfile reads (sound_read), up to 10 minutes;
 * resampled to the device rate. */
int presenter_add_sound(presenter *p, const char *path, int *id, char *err);
int presenter_add_sound_samples(presenter *p, const float *samples, int frames, int channels,
                                int rate, int *id, char *err);

/* A block: start, submit requests (any time during the block), finish (no
 * more requests: the block ends when the queue is drained), and read events
 * until PRESENTER_EVENT_BLOCK_END. */
int presenter_start_block(presenter *p, char *err);
/* 0 queued; 1 the queue is full (try again after reading events); -1 bad
 * request or no block running, with a reason. */
int presenter_submit(presenter *p, const presenter_request *r, char *err);
void presenter_finish_block(presenter *p);
/* 1 an event was read, 0 none within timeout_ms (-1 waits forever). */
int presenter_next_event(presenter *p, presenter_event *ev, int timeout_ms);
/* Valid after the BLOCK_END event. */
void presenter_block_summary(const presenter *p, presenter_summary *out);
/* Escape does the same; Space toggles the pause (it takes effect between
 * trials; a new block starts unpaused). */
void presenter_abort(presenter *p);
void presenter_set_paused(presenter *p, int paused);
int presenter_paused(const presenter *p);

/* ---- Images to files ---- */

/* Output: the project's one PNG writer (libpng): height rows of width
 * pixels of `channels` bytes (1 gray, 3 RGB), row-major, 8 bits each. */
int png_write_pixels(const char *path, const unsigned char *pixels, int height, int width,
                     int channels, char *err);
/* Output: 8-bit grayscale PNG of luminance in [0,1] (rounded, clipped). */
int png_write_gray(const char *path, const float *image, int height, int width, char *err);

/* The project's one bitmap font (font.c): 5×7 glyphs of printable ASCII
 * (FONT_FIRST ' ' .. FONT_LAST '~'), seven rows top first, bit 4 the
 * leftmost pixel; NULL for any other character. Text advances 6 pixels a
 * character at scale 1. */
#define FONT_WIDTH 5
#define FONT_HEIGHT 7
#define FONT_FIRST 32
#define FONT_LAST 126
const unsigned char *font_glyph(char c);

/* A gallery: rows × cols tiles of H×W images (NULL tiles blank), each shown
 * `scale` times larger with a label under it (printable ASCII in the 5×7
 * font), and a label at the start of each row. */
typedef struct gallery_tile {
    const float *image;
    const char *label;
} gallery_tile;
int gallery_write_png(const char *path, const gallery_tile *tiles, const char *const *row_labels,
                      int rows, int cols, int height, int width, int scale, char *err);

#endif
