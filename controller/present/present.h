/* present.h: `inception present`'s work as a library (controller/present/):
 * the images it shows, loaded as they are (present_images.c), a block of
 * them shown on a schedule, and the presenter served to a remote controller
 * (present.c), and `inception calibrate`'s gray levels and the file its
 * readings become (present.c). The presenter itself is stimulus/presenter/.
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

/* Adds every image, and the sound (NULL: none; its id in *sound_id, else -1),
 * to the presenter. */
int present_load(presenter *p, const present_images *l, const char *sound, int *sound_id,
                 char *err);

/* Shows images 0..images-1 `repeats` times (frames each, isi frames after,
 * the sound at each onset; -1 none) in a block already started; each
 * trial's event goes to on_trial with the block's first onset, and the
 * block's summary to *summary. Escape's abort ends the block early. */
typedef void (*present_trial_fn)(const presenter_event *ev, int64_t first_onset_ns, void *user);
void present_block(presenter *p, int images, int repeats, int frames, int isi, int sound,
                   present_trial_fn on_trial, void *user, presenter_summary *summary);

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
    PRESENT_SERVE_READY,    /* bound and serving */
    PRESENT_SERVE_PROGRESS, /* every 10 s */
    PRESENT_SERVE_STOPPED   /* the serving is over (the server still there to ask) */
} present_serve_stage;
typedef void (*present_serve_fn)(present_serve_stage stage, const display_server *s, void *user);

/* Serves until c->seconds have passed or *stop (a signal handler's flag;
 * NULL: none) becomes non-zero; 0 on success. */
int present_serve(presenter *p, const present_serve_config *c, const volatile sig_atomic_t *stop,
                  present_serve_fn on_event, void *user, char *err);

/* inception calibrate: the drive levels 0..255 in `levels` even steps
 * (level_of[k], GAMMA_MAX_POINTS at most), each added to the presenter as a
 * 1×1 gray image (image k), and the readings taken at them checked as the
 * calibration file they become would be read (gamma_parse), then written. */
int present_gray_levels(presenter *p, int levels, int *level_of, char *err);
int present_calibration_write(const char *path, const gamma_calibration *cal, char *err);

#endif
