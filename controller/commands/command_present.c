/* command_present.c: `inception present` (show images on a schedule, print
 * the event log and the block summary: a display check at the rig) and
 * `inception calibrate` (step through gray levels for a photometer, write
 * the calibration file from the readings). Both drive the presenter through
 * the same interface the controller uses; present's showing (present_show)
 * and --serve loop and calibrate's session (present_calibrate) and file are
 * the controller library's (controller/present/present.h), and this file
 * their options, the printing of what they tell its callbacks and
 * calibrate's dialogue with the photometer's reader. */
#include "commands.h"
#include "controller.h"
#include "stimulus.h"

#include <signal.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char display_help[] =
    "display:\n"
    "  --fullscreen        full screen at the desktop resolution (default: a window)\n"
    "  --display N         SDL display index (default 0)\n"
    "  --window WxH        window size (default 800x600)\n"
    "  --refresh HZ        nominal refresh rate (default 60); the software clock's rate\n"
    "                      where there is no vsync (SDL_VIDEODRIVER=offscreen/dummy, Xvfb)\n"
    "  --pacing MODE       auto (default: vsync when flips wait for it), vsync, software\n"
    "  --background L      background luminance in [0,1] (default 0.5)\n";

static const char present_help[] =
    "usage: inception present --images PATH [options]\n"
    "       inception present --serve ENDPOINT [--allow-remote] [options]\n\n"
    "Show images on a schedule and print one line per trial: when it appeared (flip\n"
    "number, ms since the first onset), for how many frames, dropped frames and flags;\n"
    "then the block summary. Escape aborts, Space pauses.\n\n"
    "  --images PATH       an NPY file (N×H×W, N×H×W×3 or H×W; float in [0,1] or uint8\n"
    "                      0..255), a PNG/JPEG, or a folder of them (name order)\n"
    "  --frames N          frames each image is shown (default 30)\n"
    "  --duration-ms MS    ... or a duration, rounded to whole frames (says so)\n"
    "  --isi N             frames of background after each (default 30)\n"
    "  --isi-ms MS         ... or in milliseconds, rounded\n"
    "  --repeats N         show the list N times (default 1)\n"
    "  --sound FILE        a WAV/FLAC played at every onset\n"
    "  --calibration FILE  gamma calibration (see inception calibrate)\n"
    "  --size-deg D        stimulus width in degrees (default 20; 0 fills the screen)\n"
    "  --screen-width-cm W, --distance-cm D   geometry (default 53 cm at 57 cm)\n"
    "  --photodiode PX     photodiode patch size (default 40; 0 none)\n"
    "  --photodiode-corner tl|tr|bl|br (default bl)\n"
    "  --photodiode-first white|black  patch at the first onset (default white)\n\n"
    "Remote display (controller/display/DISPLAY.md): with --serve this machine becomes the\n"
    "display of a controller elsewhere: it opens the window, binds ENDPOINT and obeys\n"
    "the controller's preloads and requests, sending every event back, until Ctrl-C.\n"
    "  --serve ENDPOINT    e.g. tcp://127.0.0.1:5560 (--images and the schedule options\n"
    "                      are then the controller's business)\n"
    "  --allow-remote      bind beyond loopback (e.g. tcp://0.0.0.0:5560)\n"
    "  --audio             open an audio device for the controller's sounds\n"
    "  --serve-seconds S   stop after S seconds (default: until Ctrl-C or SIGTERM)\n"
    "  --max-preload-mb N  images and sounds the controller may preload, as held here\n"
    "                      (4 bytes a pixel or sample; default 1024); beyond, refused\n";

static const char calibrate_help[] =
    "usage: inception calibrate [--levels N] [--out FILE] [options]\n\n"
    "Fill the screen with N gray drive levels from 0 to 255 in turn (no gamma\n"
    "correction) for a photometer. At each level type the reading and Enter (an empty\n"
    "line just advances, q quits); with --out the readings are written as a\n"
    "calibration file ('level luminance' lines) for present --calibration.\n"
    "Escape in the window aborts.\n\n"
    "  --levels N          gray levels (default 17: 0, 16, ..., 255)\n"
    "  --out FILE          write the calibration file (every level needs a reading)\n";

/* Options both commands take: the display and its pacing. */
#define DISPLAY_OPTIONS                                                                    \
    {"fullscreen", 0, NULL}, {"display", 1, NULL}, {"window", 1, NULL},                    \
    {"refresh", 1, NULL}, {"pacing", 1, NULL}, {"background", 1, NULL}

static int parse_display(const char *command, const cli_option *o, int n, presenter_config *c)
{
    c->fullscreen = cli_get(o, n, "fullscreen") != NULL;
    if (cli_get_int(o, n, "display", 0, 63, &c->display) ||
        cli_get_float(o, n, "refresh", 1.0f, 10000.0f, &c->refresh_hz) ||
        cli_get_float(o, n, "background", 0.0f, 1.0f, &c->background))
        return 1;
    const char *window = cli_get(o, n, "window");
    if (window && (sscanf(window, "%dx%d", &c->width, &c->height) != 2 || c->width < 16 ||
                   c->height < 16 || c->width > 16384 || c->height > 16384)) {
        fprintf(stderr, "inception %s: --window wants WIDTHxHEIGHT (16..16384), not '%s'\n",
                command, window);
        return 1;
    }
    const char *pacing = cli_get(o, n, "pacing");
    if (pacing) {
        if (!strcmp(pacing, "auto"))
            c->pacing = PRESENTER_PACING_AUTO;
        else if (!strcmp(pacing, "vsync"))
            c->pacing = PRESENTER_PACING_VSYNC;
        else if (!strcmp(pacing, "software"))
            c->pacing = PRESENTER_PACING_SOFTWARE;
        else {
            fprintf(stderr, "inception %s: --pacing wants auto, vsync or software, not '%s'\n",
                    command, pacing);
            return 1;
        }
    }
    return 0;
}

static int parse_photodiode(const cli_option *o, int n, presenter_config *c)
{
    if (cli_get_int(o, n, "photodiode", 0, 4096, &c->photodiode_size_px))
        return 1;
    const char *corner = cli_get(o, n, "photodiode-corner");
    static const char *corners[] = {"tl", "tr", "bl", "br"};
    if (corner) {
        int k = 0;
        while (k < 4 && strcmp(corner, corners[k]))
            k++;
        if (k == 4) {
            fprintf(stderr, "inception present: --photodiode-corner wants tl, tr, bl or br, "
                            "not '%s'\n", corner);
            return 1;
        }
        c->photodiode_corner = (presenter_corner)k;
    }
    const char *first = cli_get(o, n, "photodiode-first");
    if (first && strcmp(first, "white") && strcmp(first, "black")) {
        fprintf(stderr, "inception present: --photodiode-first wants white or black\n");
        return 1;
    }
    if (first)
        c->photodiode_first_white = !strcmp(first, "white");
    return 0;
}

/* --frames, or --duration-ms kept in *ms (>= 0) to be rounded to the
 * measured period once the display is open. */
static int parse_frames(const cli_option *o, int n, const char *frames_name,
                        const char *ms_name, int *frames, float *ms)
{
    if (cli_get(o, n, frames_name) && cli_get(o, n, ms_name)) {
        fprintf(stderr, "inception present: give --%s or --%s, not both\n", frames_name,
                ms_name);
        return 1;
    }
    if (cli_get_int(o, n, frames_name, 0, 1000000, frames))
        return 1;
    *ms = -1.0f;
    return cli_get_float(o, n, ms_name, 0.0f, 3.6e6f, ms);
}

static void print_trial(const presenter_event *ev, int64_t first_onset_ns)
{
    printf("%lld\t%d\t%lld\t%.3f\t%d/%d\t%d/%d\t%d\t%s%s%s%s%s\n", (long long)ev->trial,
           ev->image, (long long)ev->onset_flip, (ev->onset_ns - first_onset_ns) / 1e6,
           ev->frames_shown, ev->frames_requested, ev->isi_shown, ev->isi_requested,
           ev->dropped_frames, ev->flags & PRESENTER_WRONG_DURATION ? "wrong-duration " : "",
           ev->flags & PRESENTER_DROPPED_FRAMES ? "dropped " : "",
           ev->flags & PRESENTER_LATE_ONSET ? "late-onset " : "",
           ev->flags & PRESENTER_ABORTED ? "aborted " : "",
           ev->flags & PRESENTER_SOUND_PLAYED ? "sound" : "");
}

static void print_summary(const presenter *p, const presenter_summary *s)
{
    printf("summary: %lld trials shown%s, %lld with a wrong duration, %lld with dropped frames; "
           "%lld dropped frames over %lld flips; %lld discarded\n",
           (long long)s->trials_shown, s->aborted ? " (aborted)" : "",
           (long long)s->wrong_durations, (long long)s->trials_with_drops,
           (long long)s->dropped_frames, (long long)s->flips, (long long)s->trials_discarded);
    printf("timing: period %.3f ms; flip intervals %.3f ± %.3f ms (max %.3f); frame path "
           "median %.3f ms, p99 %.3f ms; swap median %.3f ms\n", s->period_ms,
           s->interval_mean_ms, s->interval_sd_ms, s->interval_max_ms, s->frame_work_median_ms,
           s->frame_work_p99_ms, s->present_median_ms);
    printf("display: %s\n", presenter_status(p));
}

/* What present_show tells, printed: notes to stderr, the event log and the
 * summary to stdout. */
static void show_event(const present_show_event *e, void *user)
{
    (void)user;
    switch (e->stage) {
    case PRESENT_SHOW_ROUNDED:
        fprintf(stderr, "inception present: --%s %g rounded to %d frames (%.2f ms at %.3f ms a "
                "frame)\n", e->option, e->ms, e->frames, e->actual_ms,
                presenter_period_ms(e->presenter));
        break;
    case PRESENT_SHOW_OPENED:
        fprintf(stderr, "inception present: %d images × %d repeats, %d frames + %d ISI; %s; "
                "%s\n", e->images, e->repeats, e->frames, e->isi, presenter_status(e->presenter),
                e->scheduling);
        break;
    case PRESENT_SHOW_BLOCK:
        printf("trial\timage\tflip\tonset_ms\tframes\tisi\tdropped\tflags\n");
        break;
    case PRESENT_SHOW_TRIAL:
        print_trial(e->trial, e->first_onset_ns);
        fflush(stdout);
        break;
    case PRESENT_SHOW_SUMMARY:
        print_summary(e->presenter, e->summary);
        break;
    }
}

/* ---- present --serve: the display of a remote controller ---- */

static volatile sig_atomic_t serve_stop; /* set by SIGINT/SIGTERM */
static void serve_signal(int sig)
{
    (void)sig;
    serve_stop = 1;
}

static void serve_progress(const display_server *s, const char *why)
{
    display_server_stats st;
    display_server_stats_get(s, &st);
    fprintf(stderr, "inception present --serve: %s%llu requests, %llu bad, %llu refused; "
            "%llu events sent, %llu dropped%s%s\n", why, (unsigned long long)st.messages,
            (unsigned long long)st.bad_messages, (unsigned long long)st.refused,
            (unsigned long long)st.events_sent, (unsigned long long)st.events_dropped,
            st.last_error[0] ? "; last problem: " : "", st.last_error);
}

/* What the serving tells: where it listens, and from then on a signal stops
 * it gracefully; its counters every 10 s and at the end. */
static void show_serving(present_serve_stage stage, const presenter *p, const display_server *s,
                         const char *scheduling, void *user)
{
    (void)user;
    switch (stage) {
    case PRESENT_SERVE_OPENED:
        fprintf(stderr, "inception present --serve: %s\n", scheduling);
        break;
    case PRESENT_SERVE_READY:
        fprintf(stderr, "inception present --serve: display on %s; %s\n",
                display_server_endpoint(s), presenter_status(p));
        serve_stop = 0;
        signal(SIGINT, serve_signal);
        signal(SIGTERM, serve_signal);
        break;
    case PRESENT_SERVE_PROGRESS:
        serve_progress(s, "");
        break;
    case PRESENT_SERVE_STOPPED:
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        serve_progress(s, "stopped: ");
        break;
    }
}

int command_present(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("%s\n%s", present_help, display_help);
        return 0;
    }
    cli_option o[] = {{"images", 1, NULL}, {"frames", 1, NULL}, {"duration-ms", 1, NULL},
                      {"isi", 1, NULL}, {"isi-ms", 1, NULL}, {"repeats", 1, NULL},
                      {"sound", 1, NULL}, {"calibration", 1, NULL}, {"size-deg", 1, NULL},
                      {"screen-width-cm", 1, NULL}, {"distance-cm", 1, NULL},
                      {"photodiode", 1, NULL}, {"photodiode-corner", 1, NULL},
                      {"photodiode-first", 1, NULL}, {"serve", 1, NULL},
                      {"allow-remote", 0, NULL}, {"audio", 0, NULL},
                      {"serve-seconds", 1, NULL}, {"max-preload-mb", 1, NULL}, DISPLAY_OPTIONS};
    int n = COUNT(o);
    if (cli_parse("present", argc, argv, o, n))
        return 2;
    const char *path = cli_get(o, n, "images"), *serve = cli_get(o, n, "serve");
    if (serve && path) {
        fprintf(stderr, "inception present: --serve takes its images from the controller, "
                        "not --images\n");
        return 2;
    }
    if (!path && !serve) {
        fprintf(stderr, "inception present: --images is required (see --help)\n");
        return 2;
    }
    presenter_config c = presenter_config_default();
    int frames = 30, isi = 30, repeats = 1;
    float frames_ms, isi_ms;
    if (parse_display("present", o, n, &c) || parse_photodiode(o, n, &c) ||
        cli_get_int(o, n, "repeats", 1, 1000000, &repeats) ||
        cli_get_float(o, n, "size-deg", 0.0f, 170.0f, &c.stimulus_width_deg) ||
        cli_get_float(o, n, "screen-width-cm", 1.0f, 10000.0f, &c.screen_width_cm) ||
        cli_get_float(o, n, "distance-cm", 1.0f, 10000.0f, &c.viewing_distance_cm) ||
        parse_frames(o, n, "frames", "duration-ms", &frames, &frames_ms) ||
        parse_frames(o, n, "isi", "isi-ms", &isi, &isi_ms))
        return 2;
    char err[CONTROLLER_ERR_SIZE];
    gamma_calibration cal;
    const char *cal_path = cli_get(o, n, "calibration");
    if (cal_path) {
        if (gamma_read(cal_path, &cal, err)) {
            fprintf(stderr, "inception present: %s\n", err);
            return 1;
        }
        c.calibration = &cal;
    }
    const char *sound = cli_get(o, n, "sound");
    c.audio = sound != NULL || cli_get(o, n, "audio");
    c.realtime_priority = run_sched_presenter_priority(err); /* as `inception run`'s */
    if (c.realtime_priority < 0) {
        fprintf(stderr, "inception present: %s\n", err);
        return 2;
    }
    float serve_seconds = 0.0f;
    if (serve) {
        float preload_mb = 1024;
        if (cli_get_float(o, n, "serve-seconds", 0.0f, 1e9f, &serve_seconds) ||
            cli_get_float(o, n, "max-preload-mb", 1, 1048576, &preload_mb))
            return 2;
        present_serve_config sc = {serve, cli_get(o, n, "allow-remote") != NULL,
                                   c.queue_capacity, serve_seconds,
                                   (size_t)((double)preload_mb * 1048576.0)};
        int rc = present_serve(&c, &sc, &serve_stop, show_serving, NULL, err);
        if (rc)
            fprintf(stderr, "inception present: %s\n", err);
        return rc;
    }
    present_show_config sc = {path, sound, frames, isi, repeats, frames_ms, isi_ms};
    if (present_show(&c, &sc, show_event, NULL, err)) {
        fprintf(stderr, "inception present: %s\n", err);
        return 1;
    }
    return 0;
}

/* ---- calibrate ---- */

/* One reading from stdin: 0 a number, 1 empty line, 2 quit or end of input,
 * 3 not a number. */
static int read_reading(float *value)
{
    char line[256];
    if (!fgets(line, sizeof line, stdin))
        return 2;
    char *s = line;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == 'q')
        return 2;
    if (*s == '\n' || *s == '\r' || *s == 0)
        return 1;
    char *end;
    double v = strtod(s, &end);
    while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')
        end++;
    if (end == s || *end || !isfinite(v) || v < 0)
        return 3;
    *value = (float)v;
    return 0;
}

/* calibrate's dialogue: the display's status, then at each level the
 * photometer's reading asked for until one comes (or, without --out, an
 * empty line passes); present_calibrate's contract for the answer. */
static int calibrate_event(present_calibrate_stage stage, const presenter *p, int k, int levels,
                           int level, float *reading, void *user)
{
    int need_reading = *(const int *)user;
    switch (stage) {
    case PRESENT_CALIBRATE_OPENED:
        fprintf(stderr, "inception calibrate: %d levels; %s\n", levels, presenter_status(p));
        return 0;
    case PRESENT_CALIBRATE_ABORTED:
        fprintf(stderr, "inception calibrate: aborted\n");
        return 2;
    case PRESENT_CALIBRATE_LEVEL:
        break;
    }
    for (;;) {
        fprintf(stderr, "level %d (%d/%d): photometer reading, then Enter%s: ", level, k + 1,
                levels, need_reading ? "" : " (empty: next)");
        int rc = read_reading(reading);
        if (rc == 2) {
            fprintf(stderr, "\n");
            return 2;
        }
        if (rc == 1 && !need_reading)
            return 1;
        if (rc == 0)
            return 0;
        fprintf(stderr, "inception calibrate: want a non-negative number\n");
    }
}

int command_calibrate(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("%s\n%s", calibrate_help, display_help);
        return 0;
    }
    cli_option o[] = {{"levels", 1, NULL}, {"out", 1, NULL}, DISPLAY_OPTIONS};
    int n = COUNT(o), levels = 17;
    presenter_config c = presenter_config_default();
    if (cli_parse("calibrate", argc, argv, o, n) || parse_display("calibrate", o, n, &c) ||
        cli_get_int(o, n, "levels", 2, GAMMA_MAX_POINTS, &levels))
        return 2;
    const char *out = cli_get(o, n, "out");
    int need_reading = out != NULL;
    char err[CONTROLLER_ERR_SIZE];
    gamma_calibration cal;
    if (present_calibrate(&c, levels, calibrate_event, &need_reading, &cal, err)) {
        fprintf(stderr, "inception calibrate: %s\n", err);
        return 1;
    }
    if (!out)
        return 0;
    if (cal.count < levels) {
        fprintf(stderr, "inception calibrate: stopped after %d of %d readings; %s not written\n",
                cal.count, levels, out);
        return 1;
    }
    if (present_calibration_write(out, &cal, err)) {
        fprintf(stderr, "inception calibrate: %s\n", err);
        return 1;
    }
    printf("wrote %s: %d levels, luminance %g to %g\n", out, cal.count, cal.luminance[0],
           cal.luminance[cal.count - 1]);
    return 0;
}
