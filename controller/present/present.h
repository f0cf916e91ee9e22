/* present.h: `inception present`'s work as a library (controller/present/):
 * the images it shows, loaded as they are (present_images.c), a block of
 * them shown on a schedule, the whole showing from opening the display to
 * the summary (present_show), and the presenter served to a remote
 * controller (present.c), and `inception calibrate`'s gray levels, its
 * session at the photometer and the file its readings become (present.c).
 * The presenter itself is stimulus/presenter/.
 *
 * Nothing here prints: trials and the serving's progress are told to
 * callbacks, and a failure is 1 with a one-line reason in `err`
 * (CONTROLLER_ERR_SIZE bytes). */
#ifndef INCEPTION_PRESENT_H
#define INCEPTION_PRESENT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "display/display.h"
#include "stimulus.h"

#define PRESENT_MAX_IMAGES 100000

/* Images at their own sizes, luminance in [0,1]. */
typedef struct present_images {
    float **pixels;
    int *height, *width;
    int count;
    size_t capacity;
} present_images;

/* An image set (model.h: an NPY file, a PNG or JPEG, or a folder of them in
 * name order), each image at its own size; a pixel outside [0,1] is refused
 * naming its file. */
int present_images_load(const char *path, present_images *l, char *err);
void present_images_free(present_images *l);

/* inception present: the presenter opened with *c, then the images (and the
 * sound) of *s loaded and shown in one block. Durations
 * given in ms (>= 0) replace frames and isi, rounded to whole frames of the
 * display's measured period once it is open. What happens is told to
 * on_event, in the order of present_show_stage; 1 with the reason in err
 * when the images, the display, a frame count below 1 or the loading fail. */
typedef struct present_show_config {
    const char *images;      /* present_images_load's path */
    const char *sound;       /* played at every onset; NULL: none */
    int frames, isi, repeats;
    float frames_ms, isi_ms; /* >= 0: in ms instead (< 0: frames, isi as given) */
} present_show_config;

typedef enum present_show_stage {
    PRESENT_SHOW_ROUNDED, /* a duration in ms rounded: option, ms, frames, actual_ms */
    PRESENT_SHOW_OPENED,  /* the display is open: images, repeats, frames, isi, scheduling */
    PRESENT_SHOW_BLOCK,   /* everything loaded, the block starts */
    PRESENT_SHOW_TRIAL,   /* one trial shown: trial, first_onset_ns */
    PRESENT_SHOW_SUMMARY  /* the block is over: summary */
} present_show_stage;

typedef struct present_show_event {
    present_show_stage stage;
    const presenter *presenter;
    const char *option; /* ROUNDED: "duration-ms" or "isi-ms" */
    float ms;
    double actual_ms;
    int images, repeats, frames, isi; /* frames: also ROUNDED's result */
    const char *scheduling;           /* OPENED: run_sched_display_alone's words */
    const presenter_event *trial;
    int64_t first_onset_ns;
    const presenter_summary *summary;
} present_show_event;
typedef void (*present_show_fn)(const present_show_event *e, void *user);

int present_show(const presenter_config *c, const present_show_config *s,
                 present_show_fn on_event, void *user, char *err);

/* present --serve: the presenter as the display of a remote controller
 * (controller/display/DISPLAY.md). */
typedef struct present_serve_config {
    const char *endpoint;
    int allow_remote;
    int queue_capacity;
    float seconds;             /* stop after this long; 0: only at *stop */
    size_t max_preload_bytes;
} present_serve_config;

typedef enum present_serve_stage {
    PRESENT_SERVE_OPENED,   /* the display is open (no server yet): its scheduling */
    PRESENT_SERVE_READY,    /* bound and serving */
    PRESENT_SERVE_PROGRESS, /* every 10 s */
    PRESENT_SERVE_STOPPED   /* the serving is over (the server still there to ask) */
} present_serve_stage;
typedef void (*present_serve_fn)(present_serve_stage stage, const presenter *p,
                                 const display_server *s, const char *scheduling, void *user);

/* Opens the presenter with *pc and serves until c->seconds have passed or
 * *stop (a signal handler's flag; NULL: none) becomes non-zero; 0 on
 * success. */
int present_serve(const presenter_config *pc, const present_serve_config *c,
                  const volatile sig_atomic_t *stop, present_serve_fn on_event, void *user,
                  char *err);

/* inception calibrate's readings checked as the calibration file they become
 * would be read (gamma_parse), then written. */
int present_calibration_write(const char *path, const gamma_calibration *cal, char *err);

/* inception calibrate's session: the presenter opened with *c filling the
 * screen without gamma correction or photodiode patch, the `levels` gray
 * levels shown in turn, each held until on_event(PRESENT_CALIBRATE_LEVEL)
 * returns: 0 with its reading in *reading (kept in *cal in order), 1 none
 * (the next level), 2 stop. PRESENT_CALIBRATE_ABORTED: the presenter ended
 * the block (Escape) and no further level is shown. 1 with the reason in
 * err only when the display cannot be opened or the levels loaded. */
typedef enum present_calibrate_stage {
    PRESENT_CALIBRATE_OPENED, /* the display is open (levels: how many) */
    PRESENT_CALIBRATE_LEVEL,  /* level `level`, the k-th of `levels`, is on screen */
    PRESENT_CALIBRATE_ABORTED
} present_calibrate_stage;
typedef int (*present_calibrate_fn)(present_calibrate_stage stage, const presenter *p, int k,
                                    int levels, int level, float *reading, void *user);
int present_calibrate(const presenter_config *c, int levels, present_calibrate_fn on_event,
                      void *user, gamma_calibration *cal, char *err);

#endif
