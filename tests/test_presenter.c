/* test_presenter.c: gamma calibration files and their inverse table, the
 * geometry, the frame schedule driven with chosen flip times (dropped frames,
 * wrong durations, held stimuli, aborts), and the presenter itself on SDL's
 * dummy video and audio drivers: blocks, Escape, pause, sound onsets. */
#include "presenter/presenter_internal.h"
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char err[STIMULUS_ERR_SIZE];

/* ---- gamma ---- */

static int parse(const char *text, gamma_calibration *c)
{
    return gamma_parse(text, strlen(text), "cal.txt", c, err);
}

static void test_gamma_parse(void)
{
    gamma_calibration c;
    CHECK(parse("# photometer\n0 0.5\n\n128 20 # mid\r\n255 100\n", &c) == 0 && c.count == 3 &&
              c.level[1] == 128.0f && c.luminance[2] == 100.0f,
          "three measurements, comments, blank and CRLF lines");
    CHECK(parse("0 1\n128 0.5\n255 9\n", &c) && strstr(err, "cal.txt:2:") &&
              strstr(err, "below"), "a luminance that falls is refused at its line: %s", err);
    CHECK(parse("0 1\n0 2\n", &c) && strstr(err, "cal.txt:2:") && strstr(err, "increase"),
          "levels must increase: %s", err);
    CHECK(parse("0 1\n12 x\n", &c) && strstr(err, "cal.txt:2:"), "not a number: %s", err);
    CHECK(parse("0 1\n12 3 4\n", &c) && strstr(err, "cal.txt:2:"), "three numbers: %s", err);
    CHECK(parse("0 1\n300 3\n", &c) && strstr(err, "0..255"), "level beyond 255: %s", err);
    CHECK(parse("# only\n10 1\n", &c) && strstr(err, "two"), "one measurement: %s", err);
    CHECK(parse("0 5\n255 5\n", &c) && strstr(err, "brighter"), "flat display: %s", err);
    CHECK(parse("0 nan\n255 5\n", &c) != 0, "NaN refused");
    char nul[] = "0 1\n2\0 3\n255 4\n";
    CHECK(gamma_parse(nul, sizeof nul - 1, "cal.txt", &c, err) != 0, "NUL byte refused: %s",
          err);
}

static void test_gamma_roundtrip(void)
{
    gamma_calibration c, back;
    c.count = 5;
    for (int i = 0; i < 5; i++) {
        c.level[i] = 64.0f * i > 255 ? 255 : 64.0f * i;
        c.luminance[i] = 0.3f + 90.0f * powf(c.level[i] / 255.0f, 2.2f);
    }
    char path[] = "/tmp/inception-gamma-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    CHECK(gamma_write(path, &c, err) == 0, "calibration written");
    CHECK(gamma_read(path, &back, err) == 0 && back.count == 5, "read back: %s", err);
    int same = 1;
    for (int i = 0; i < 5; i++)
        same &= back.level[i] == c.level[i] && fabsf(back.luminance[i] - c.luminance[i]) < 1e-5f;
    CHECK(same, "the same measurements after a round trip");
    unlink(path);
    CHECK(gamma_read("/nonexistent/cal.txt", &back, err) && strstr(err, "/nonexistent"),
          "a missing file is named: %s", err);
}

/* The inverse table against two independent computations: bisection of the
 * forward curve, and the power law the measurements were taken from. */
static void test_gamma_inverse(void)
{
    gamma_calibration c;
    c.count = 17;
    const float gamma = 2.2f, black = 0.4f, white = 110.0f;
    for (int i = 0; i < c.count; i++) {
        c.level[i] = fminf(16.0f * i, 255.0f);
        c.luminance[i] = black + (white - black) * powf(c.level[i] / 255.0f, gamma);
    }
    uint8_t table[GAMMA_TABLE_SIZE];
    gamma_inverse_table(&c, table);
    int worst_bisect = 0, worst_law = 0, monotone = 1;
    for (int i = 0; i < GAMMA_TABLE_SIZE; i++) {
        float y = (float)i / (GAMMA_TABLE_SIZE - 1);
        float lo = 0, hi = 255;
        for (int it = 0; it < 60; it++) {
            float mid = 0.5f * (lo + hi);
            if (gamma_forward(&c, mid) < y)
                lo = mid;
            else
                hi = mid;
        }
        int by_bisection = (int)lroundf(0.5f * (lo + hi));
        int by_law = (int)lroundf(255.0f * powf(y, 1.0f / gamma));
        int d1 = abs(table[i] - by_bisection), d2 = abs(table[i] - by_law);
        worst_bisect = d1 > worst_bisect ? d1 : worst_bisect;
        worst_law = d2 > worst_law ? d2 : worst_law;
        if (i && table[i] < table[i - 1])
            monotone = 0;
    }
    CHECK(worst_bisect <= 1, "inverse table = bisection of the forward curve (worst %d level)",
          worst_bisect);
    /* Linear interpolation between 17 points of a power law is off most near black. */
    CHECK(worst_law <= 6, "inverse table ≈ the power law's inverse (worst %d levels)", worst_law);
    CHECK(monotone && table[0] == 0 && table[GAMMA_TABLE_SIZE - 1] == 255,
          "monotone from level 0 to 255");
    CHECK(gamma_level(table, 0.5f) == (int)lroundf(255.0f * powf(0.5f, 1 / gamma)) ||
              abs(gamma_level(table, 0.5f) - (int)lroundf(255.0f * powf(0.5f, 1 / gamma))) <= 2,
          "mid gray needs level %d for a gamma-2.2 display", gamma_level(table, 0.5f));
    gamma_inverse_table(NULL, table);
    CHECK(table[0] == 0 && table[GAMMA_TABLE_SIZE - 1] == 255 &&
              gamma_level(table, 0.5f) == 128 && gamma_level(table, 0.25f) == 64,
          "no calibration: the identity");
}

static void test_geometry(void)
{
    display_geometry g = {53.0f, 57.0f, 1920};
    float px = geometry_degrees_to_pixels(&g, 10.0f);
    double expected = 2 * 57.0 * tan(5.0 * M_PI / 180) / 53.0 * 1920;
    CHECK_CLOSE(px, expected, 1e-5, "10° = 2·d·tan(5°) cm at 1920/53 px per cm (%.2f px)", px);
    CHECK_CLOSE(geometry_pixels_per_degree(&g), 57.0 * M_PI / 180 * 1920 / 53.0, 1e-5,
                "pixels per degree at the centre");
    /* At 57 cm a centimetre spans about one degree. */
    CHECK(fabs(geometry_degrees_to_pixels(&g, 1.0f) / (1920 / 53.0) - 0.99484) < 1e-3,
          "1° at 57 cm ≈ 1 cm");
}

/* ---- the schedule, with chosen flip times ---- */

typedef struct fake {
    presenter p;
    frame_loop l;
    int64_t t;
} fake;

static void fake_init(fake *f, double period_ns)
{
    memset(f, 0, sizeof *f);
    ring_init(&f->p.requests, 64, sizeof(presenter_request));
    ring_init(&f->p.events, 256, sizeof(presenter_event));
    f->p.period_ns = period_ns;
    f->p.work_histogram = calloc(PRESENTER_HISTOGRAM_BINS, sizeof(int32_t));
    f->p.present_histogram = calloc(PRESENTER_HISTOGRAM_BINS, sizeof(int32_t));
    f->l.p = &f->p;
    f->t = 1000000000;
}

static void fake_free(fake *f)
{
    ring_free(&f->p.requests);
    ring_free(&f->p.events);
    free(f->p.work_histogram);
    free(f->p.present_histogram);
}

/* One flip, `periods` refresh periods after the previous. */
static frame_plan fake_flip(fake *f, double periods, int aborting)
{
    frame_plan plan = schedule_plan(&f->l, aborting);
    f->t += (int64_t)llround(periods * f->p.period_ns);
    schedule_after_flip(&f->l, &plan, f->t, aborting);
    return plan;
}

static int fake_event(fake *f, presenter_event *ev) { return ring_pop(&f->p.events, ev, 0); }

static void fake_submit(fake *f, int64_t trial, int frames, int isi)
{
    presenter_request r = {trial, 0, -1, frames, isi, NULL};
    ring_push(&f->p.requests, &r);
}

static void test_schedule_exact(void)
{
    fake f;
    fake_init(&f, 10e6);
    fake_submit(&f, 7, 3, 2);
    fake_submit(&f, 8, 1, 0);
    fake_submit(&f, 9, 2, 1);
    int shows[12], starts[12];
    for (int i = 0; i < 12; i++) {
        frame_plan plan = fake_flip(&f, 1.0, 0);
        shows[i] = plan.starting;
        starts[i] = plan.starting ? (int)plan.next.trial : -1;
    }
    /* Flips 0-2 trial 7, 3-4 its ISI, 5 trial 8, 6-7 trial 9, 8 its ISI. */
    CHECK(starts[0] == 7 && starts[5] == 8 && starts[6] == 9 && shows[1] == 0 &&
              shows[7] == 0 && shows[9] == 0, "onsets at flips 0, 5 and 6");
    presenter_event ev[8];
    int n = 0;
    while (n < 8 && fake_event(&f, &ev[n]))
        n++;
    CHECK(n == 6, "an onset and a trial event for each of three trials (%d)", n);
    CHECK(ev[0].kind == PRESENTER_EVENT_ONSET && ev[0].trial == 7 && ev[0].onset_flip == 0 &&
              ev[1].kind == PRESENTER_EVENT_TRIAL && ev[1].trial == 7,
          "trial 7: onset then trial");
    CHECK(ev[1].frames_shown == 3 && ev[1].isi_shown == 2 && ev[1].flags == 0 &&
              ev[1].offset_ns - ev[1].onset_ns == 30000000 &&
              ev[1].end_ns - ev[1].offset_ns == 20000000, "trial 7: 3 frames and 2 of ISI");
    CHECK(ev[2].trial == 8 && ev[2].onset_flip == 5 && ev[3].frames_shown == 1 &&
              ev[3].isi_shown == 0 && ev[3].offset_ns == ev[3].end_ns, "trial 8: 1 frame, no ISI");
    CHECK(ev[4].trial == 9 && ev[4].onset_flip == 6 && ev[5].frames_shown == 2 &&
              ev[5].isi_shown == 1 && ev[5].flags == 0, "trial 9: 2 frames, 1 of ISI");
    fake_free(&f);
}

static void test_schedule_drops(void)
{
    fake f;
    fake_init(&f, 10e6);
    fake_submit(&f, 1, 4, 1);
    fake_submit(&f, 2, 2, 2);
    fake_flip(&f, 1.0, 0);        /* onset of 1 */
    fake_flip(&f, 1.0, 0);
    fake_flip(&f, 2.1, 0);        /* one refresh missed while 1 is up */
    fake_flip(&f, 1.0, 0);
    fake_flip(&f, 1.0, 0);        /* offset of 1 */
    fake_flip(&f, 1.4, 0);        /* late but below 1.5 periods: onset of 2 */
    fake_flip(&f, 1.0, 0);
    fake_flip(&f, 1.0, 0);        /* offset of 2 */
    fake_flip(&f, 1.0, 0);
    fake_flip(&f, 3.0, 0);        /* end of 2's ISI, two refreshes missed */
    presenter_event ev[8];
    int n = 0;
    while (n < 8 && fake_event(&f, &ev[n]))
        n++;
    /* onset 1, the late flip 2, trial 1, onset 2, the late flip 9, trial 2 */
    CHECK(n == 6, "six events: two late flips of their own (%d)", n);
    CHECK(ev[1].kind == PRESENTER_EVENT_FLIP && ev[1].trial == 1 && ev[1].onset_flip == 2 &&
              ev[1].dropped_frames == 1 && ev[1].image == 0 &&
              ev[1].onset_ns - ev[0].onset_ns == 31000000,
          "flip 2: one frame missed while trial 1 was up, 31 ms after its onset");
    CHECK(ev[2].kind == PRESENTER_EVENT_TRIAL && ev[2].frames_shown == 5 &&
              ev[2].dropped_frames == 1 && (ev[2].flags & PRESENTER_WRONG_DURATION) &&
              (ev[2].flags & PRESENTER_DROPPED_FRAMES),
          "trial 1: 4 flips but 5 frames on screen, flagged (flags %d)", ev[2].flags);
    CHECK(ev[3].kind == PRESENTER_EVENT_ONSET && ev[3].flags == 0 && ev[3].dropped_frames == 0,
          "1.4 periods is not a late onset");
    CHECK(ev[4].kind == PRESENTER_EVENT_FLIP && ev[4].trial == 2 && ev[4].onset_flip == 9 &&
              ev[4].dropped_frames == 2 && ev[4].image == -1,
          "flip 9: two frames missed in trial 2's ISI");
    CHECK(ev[5].frames_shown == 2 && ev[5].isi_shown == 4 && ev[5].dropped_frames == 2 &&
              (ev[5].flags & PRESENTER_WRONG_DURATION), "trial 2: ISI 4 frames instead of 2");
    schedule_summarize(&f.l);
    CHECK(f.l.s.dropped_frames == 3 && f.l.s.wrong_durations == 2 && f.l.s.trials_shown == 2 &&
              f.l.s.trials_with_drops == 2 && f.l.s.flips == 10,
          "summary: 3 dropped, 2 wrong durations");
    CHECK_CLOSE(f.l.s.interval_max_ms, 30.0, 1e-9, "longest interval 30 ms");
    fake_free(&f);
}

/* Every late flip's missed frames in exactly one event: a late onset's in
 * its ONSET event (and in the trial that was up before it), an idle flip's
 * in a FLIP event with no trial; the events add up to the summary. */
static void test_schedule_late_onset_and_idle(void)
{
    fake f;
    fake_init(&f, 4e6);
    fake_submit(&f, 1, 2, 1);
    fake_submit(&f, 2, 2, 0);
    fake_flip(&f, 1.0, 0); /* 0: onset of 1 */
    fake_flip(&f, 1.0, 0); /* 1 */
    fake_flip(&f, 1.0, 0); /* 2: offset of 1 */
    fake_flip(&f, 3.2, 0); /* 3: end of 1's ISI, onset of 2, 2 frames late */
    fake_flip(&f, 1.0, 0); /* 4 */
    fake_flip(&f, 1.0, 0); /* 5: offset and end of 2 */
    fake_flip(&f, 1.0, 0); /* 6: idle */
    fake_flip(&f, 4.9, 0); /* 7: idle, 4 frames missed */
    presenter_event ev[8];
    int n = 0;
    int64_t sum = 0;
    while (n < 8 && fake_event(&f, &ev[n])) {
        if (ev[n].kind != PRESENTER_EVENT_TRIAL)
            sum += ev[n].dropped_frames;
        n++;
    }
    CHECK(n == 5, "onset 1, trial 1, onset 2, trial 2, one idle late flip (%d)", n);
    CHECK(ev[1].kind == PRESENTER_EVENT_TRIAL && ev[1].trial == 1 && ev[1].isi_shown == 3 &&
              ev[1].dropped_frames == 2 && (ev[1].flags & PRESENTER_WRONG_DURATION),
          "trial 1: its ISI lasted 3 frames, not 1");
    CHECK(ev[2].kind == PRESENTER_EVENT_ONSET && ev[2].trial == 2 && ev[2].onset_flip == 3 &&
              ev[2].dropped_frames == 2 && (ev[2].flags & PRESENTER_LATE_ONSET),
          "the late onset of 2 carries its 2 missed frames");
    CHECK(ev[3].kind == PRESENTER_EVENT_TRIAL && ev[3].dropped_frames == 0 &&
              ev[3].flags == PRESENTER_LATE_ONSET,
          "trial 2 itself was shown as asked (its late onset noted, no wrong frames)");
    CHECK(ev[4].kind == PRESENTER_EVENT_FLIP && ev[4].trial == -1 && ev[4].image == -1 &&
              ev[4].onset_flip == 7 && ev[4].dropped_frames == 4,
          "the idle flip 7: 4 frames missed, no trial");
    schedule_summarize(&f.l);
    CHECK(f.l.s.dropped_frames == 6 && sum == 6,
          "the onset and flip events add up to the summary's 6 dropped frames (%lld)",
          (long long)sum);
    fake_free(&f);
}

/* The emulated display (no display at all): a frame swapped before its
 * refresh is shown at it however late the thread woke for the previous
 * one; a swap after the refresh misses it. Written from what a double-
 * buffered display with vsync does: it latches the last completed swap at
 * each vertical blank. */
static frame_plan fake_blank(fake *f, double swap_ms, double woke_late_ms, int64_t *shown,
                             int *missed)
{
    frame_plan plan = schedule_plan(&f->l, 0);
    int64_t swapped = 1000000000 + (int64_t)llround(swap_ms * 1e6);
    *shown = schedule_blank(&f->l, swapped, missed);
    schedule_after_blank(&f->l, &plan, *shown, *shown + (int64_t)llround(woke_late_ms * 1e6),
                         *missed, 0);
    return plan;
}

static void test_schedule_emulated_display(void)
{
    fake f;
    fake_init(&f, 10e6);
    fake_submit(&f, 1, 3, 1);
    fake_submit(&f, 2, 2, 1);
    int64_t shown[9];
    int missed[9];
    /* swap times (ms after t0) and how late the thread woke for the refresh */
    fake_blank(&f, 0.0, 0.0, &shown[0], &missed[0]);  /* 0: onset of 1 starts the grid */
    fake_blank(&f, 0.4, 8.0, &shown[1], &missed[1]);  /* 1: refresh 10, woke 8 ms late */
    fake_blank(&f, 18.5, 0.1, &shown[2], &missed[2]); /* 2: swapped 1.5 ms before refresh 20 */
    fake_blank(&f, 30.2, 0.1, &shown[3], &missed[3]); /* 3: 0.2 ms after refresh 30: at 40 */
    fake_blank(&f, 40.3, 0.0, &shown[4], &missed[4]); /* 4: end of 1's ISI, onset of 2 at 50 */
    fake_blank(&f, 50.0, 0.0, &shown[5], &missed[5]); /* 5: at refresh 60 (one a flip) */
    fake_blank(&f, 60.1, 0.0, &shown[6], &missed[6]); /* 6: offset of 2 at 70 */
    fake_blank(&f, 70.1, 0.0, &shown[7], &missed[7]); /* 7: end of 2 at 80 */
    const int64_t ms = 1000000, t0 = 1000000000;
    CHECK(shown[0] == t0 && shown[1] == t0 + 10 * ms && shown[2] == t0 + 20 * ms &&
              shown[3] == t0 + 40 * ms && shown[4] == t0 + 50 * ms && shown[5] == t0 + 60 * ms &&
              shown[6] == t0 + 70 * ms && shown[7] == t0 + 80 * ms,
          "frames shown at the first refresh after their swap and after the previous frame");
    CHECK(missed[0] == 0 && missed[1] == 0 && missed[2] == 0 && missed[3] == 1 &&
              missed[4] == 0 && missed[5] == 0,
          "a wake-up 8 ms late misses nothing; a swap 0.2 ms after its refresh misses one");
    presenter_event ev[8];
    int n = 0;
    while (n < 8 && fake_event(&f, &ev[n]))
        n++;
    /* onset 1, the late flip 3, trial 1, onset 2, trial 2 */
    CHECK(n == 5, "five events (%d)", n);
    CHECK(ev[0].kind == PRESENTER_EVENT_ONSET && ev[0].onset_ns == t0, "onset of 1 at t0");
    CHECK(ev[1].kind == PRESENTER_EVENT_FLIP && ev[1].onset_flip == 3 &&
              ev[1].dropped_frames == 1 && ev[1].onset_ns == t0 + 40 * ms,
          "the late frame: one missed, shown at 40 ms");
    CHECK(ev[2].kind == PRESENTER_EVENT_TRIAL && ev[2].frames_shown == 4 &&
              ev[2].offset_ns == t0 + 40 * ms && (ev[2].flags & PRESENTER_WRONG_DURATION),
          "trial 1: 3 frames asked, 4 on screen (flags %d)", ev[2].flags);
    CHECK(ev[3].kind == PRESENTER_EVENT_ONSET && ev[3].onset_ns == t0 + 50 * ms &&
              ev[3].flags == 0,
          "onset of 2 at the refresh, not at the wake-up");
    CHECK(ev[4].kind == PRESENTER_EVENT_TRIAL && ev[4].frames_shown == 2 && ev[4].isi_shown == 1 &&
              ev[4].flags == 0 && ev[4].end_ns == t0 + 80 * ms,
          "trial 2 exactly as asked");
    schedule_summarize(&f.l);
    CHECK(f.l.s.dropped_frames == 1 && f.l.s.flips == 8, "summary: 1 dropped in 8 flips");
    /* The intervals are the thread's wake-ups: 18, 2.1, 20, 9.9 ms, then 10s. */
    CHECK_CLOSE(f.l.s.interval_max_ms, 20.0, 1e-9, "the longest wake-up interval, 20 ms");
    fake_free(&f);
}

static void test_schedule_hold_and_abort(void)
{
    fake f;
    fake_init(&f, 5e6);
    fake_submit(&f, 1, 0, 0); /* held until the next request */
    for (int i = 0; i < 20; i++)
        fake_flip(&f, 1.0, 0);
    presenter_event ev;
    CHECK(fake_event(&f, &ev) && ev.kind == PRESENTER_EVENT_ONSET && !fake_event(&f, &ev),
          "a held stimulus stays up while nothing else is queued");
    fake_submit(&f, 2, 5, 5);
    frame_plan plan = fake_flip(&f, 1.0, 0);
    CHECK(plan.offset && plan.ending && plan.starting && plan.next.trial == 2,
          "the next request replaces it at once");
    CHECK(fake_event(&f, &ev) && ev.trial == 1 && ev.kind == PRESENTER_EVENT_TRIAL &&
              ev.frames_shown == 20 && ev.flags == 0, "held for 20 frames, not a wrong duration");
    fake_flip(&f, 1.0, 0);
    fake_submit(&f, 3, 5, 5);
    fake_submit(&f, 4, 5, 5);
    plan = fake_flip(&f, 1.0, 1);
    CHECK(plan.ending && !plan.starting, "abort ends the trial and starts nothing");
    fake_event(&f, &ev); /* onset of 2 */
    CHECK(fake_event(&f, &ev) && ev.trial == 2 && (ev.flags & PRESENTER_ABORTED) &&
              ev.frames_shown == 2 && !(ev.flags & PRESENTER_WRONG_DURATION),
          "the aborted trial is reported with what was shown (2 frames)");
    schedule_discard_requests(&f.l);
    CHECK(f.l.s.trials_discarded == 2 && f.l.active == 0, "two queued requests discarded");
    fake_free(&f);
}

/* ---- the presenter on SDL's dummy drivers ---- */

static presenter *open_presenter(float hz, int audio)
{
    presenter_config c = presenter_config_default();
    c.width = 160;
    c.height = 120;
    c.refresh_hz = hz;
    c.audio = audio;
    c.queue_capacity = 32;
    presenter *p = NULL;
    int rc = presenter_create(&p, &c, err);
    CHECK(rc == 0, "presenter on the dummy driver: %s", rc ? err : presenter_status(p));
    return p;
}

/* The next event that is not a late flip (a loaded machine drops frames,
 * idle ones too: those events are checked in the schedule tests). */
static int next_trial_event(presenter *p, presenter_event *ev, int timeout_ms)
{
    int got;
    while ((got = presenter_next_event(p, ev, timeout_ms)) == 1 && ev->kind == PRESENTER_EVENT_FLIP)
        ;
    return got;
}

/* Reads events until the block's end; counts kinds. */
static int drain(presenter *p, presenter_event *trials, int capacity, int *onsets)
{
    int n = 0;
    *onsets = 0;
    presenter_event ev;
    while (presenter_next_event(p, &ev, 5000)) {
        if (ev.kind == PRESENTER_EVENT_BLOCK_END)
            return n;
        if (ev.kind == PRESENTER_EVENT_ONSET)
            (*onsets)++;
        else if (ev.kind == PRESENTER_EVENT_TRIAL && n < capacity)
            trials[n++] = ev;
    }
    return -1;
}

static void test_presenter_block(void)
{
    presenter *p = open_presenter(500.0f, 0);
    if (!p)
        return;
    CHECK(strstr(presenter_status(p), "software clock at 500 Hz") != NULL,
          "no vsync on the dummy driver: software clock, and the status says so");
    CHECK_CLOSE(presenter_period_ms(p), 2.0, 1e-9, "period 2 ms");
    double actual;
    CHECK(presenter_ms_to_frames(p, 5.1, &actual) == 3 && fabs(actual - 6.0) < 1e-9 &&
              presenter_ms_to_frames(p, 4.9, NULL) == 2,
          "5.1 ms rounds to 3 frames (6 ms), 4.9 ms to 2");
    float pixels[6] = {0, 0.25f, 0.5f, 0.75f, 1, 0.5f};
    int id = -1;
    CHECK(presenter_add_image(p, pixels, 2, 3, &id, err) == 0 && id == 0, "image preloaded");
    presenter_request r = {1, 0, -1, 2, 1, NULL};
    CHECK(presenter_submit(p, &r, err) == -1 && strstr(err, "no block"),
          "no request outside a block: %s", err);
    CHECK(presenter_start_block(p, err) == 0, "block started");
    CHECK(presenter_add_image(p, pixels, 2, 3, &id, err) && strstr(err, "between blocks"),
          "no loading during a block: %s", err);
    r.image = 5;
    CHECK(presenter_submit(p, &r, err) == -1 && strstr(err, "unknown image"),
          "unknown image refused: %s", err);
    for (int i = 0; i < 10; i++) {
        presenter_request q = {100 + i, i % 2 ? 0 : -1, -1, 1 + i % 3, i % 2, NULL};
        CHECK(presenter_submit(p, &q, err) == 0, "request %d queued", i);
    }
    presenter_finish_block(p);
    presenter_event ev[16];
    int onsets;
    int n = drain(p, ev, 16, &onsets);
    CHECK(n == 10 && onsets == 10, "10 onsets and 10 trial events, then the block's end");
    int order = 1, flips = 1;
    for (int i = 0; i < n; i++) {
        order &= ev[i].trial == 100 + i && ev[i].frames_requested == 1 + i % 3;
        if (i)
            flips &= ev[i].onset_flip == ev[i - 1].onset_flip + ev[i - 1].frames_requested +
                                             ev[i - 1].isi_requested;
    }
    CHECK(order, "trials in submission order");
    CHECK(flips, "each onset exactly frames + ISI flips after the previous");
    presenter_summary s;
    presenter_block_summary(p, &s);
    CHECK(s.trials_shown == 10 && !s.aborted && s.trials_discarded == 0 && s.flips >= 20,
          "summary: 10 trials over %lld flips", (long long)s.flips);
    CHECK(presenter_start_block(p, err) == 0, "a second block");
    presenter_finish_block(p);
    CHECK(drain(p, ev, 16, &onsets) == 0 && onsets == 0, "an empty block ends at once");
    presenter_start_block(p, err);
    for (int i = 0; i < 5; i++) {
        presenter_request q = {i, 0, -1, 1000, 0, NULL};
        presenter_submit(p, &q, err);
    }
    presenter_event first;
    CHECK(next_trial_event(p, &first, 5000) && first.kind == PRESENTER_EVENT_ONSET,
          "a long block under way");
    presenter_destroy(p); /* mid-block, events unread: aborts the block, frees everything */
}

static void push_key(SDL_Keycode key)
{
    SDL_Event e;
    memset(&e, 0, sizeof e);
    e.type = SDL_KEYDOWN;
    e.key.keysym.sym = key;
    SDL_PushEvent(&e);
}

static void test_presenter_keys(void)
{
    presenter *p = open_presenter(200.0f, 0);
    if (!p)
        return;
    float gray = 0.8f;
    int id;
    presenter_add_image(p, &gray, 1, 1, &id, err);
    presenter_start_block(p, err);
    push_key(SDLK_SPACE);
    for (int wait = 0; wait < 400 && !presenter_paused(p); wait++)
        usleep(5000); /* the render thread reads keys once a frame */
    CHECK(presenter_paused(p), "Space pauses");
    for (int i = 0; i < 20; i++) {
        presenter_request q = {i, id, -1, 20, 2, NULL};
        presenter_submit(p, &q, err);
    }
    presenter_event ev;
    CHECK(next_trial_event(p, &ev, 200) == 0, "nothing shown while paused");
    push_key(SDLK_SPACE);
    CHECK(next_trial_event(p, &ev, 5000) == 1 && ev.kind == PRESENTER_EVENT_ONSET &&
              ev.trial == 0, "Space again resumes with the first trial");
    push_key(SDLK_ESCAPE);
    presenter_event trials[32];
    int onsets;
    int n = drain(p, trials, 32, &onsets);
    presenter_summary s;
    presenter_block_summary(p, &s);
    CHECK(s.aborted && n >= 1 && n < 20 && (trials[n - 1].flags & PRESENTER_ABORTED),
          "Escape aborts; the cut trial says so (%d trials reported)", n);
    CHECK(s.trials_shown == n && s.trials_shown + s.trials_discarded == 20 &&
              onsets + 1 == n, "every request shown or counted as discarded (%lld + %lld)",
          (long long)s.trials_shown, (long long)s.trials_discarded);
    presenter_destroy(p);
}

/* A WAV written with libsndfile, read back by the presenter. */
static int write_wav(const char *path, int rate, int frames)
{
    SF_INFO info = {0};
    info.samplerate = rate;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    if (!f)
        return 1;
    float *x = malloc(sizeof(float) * (size_t)frames);
    for (int i = 0; i < frames; i++)
        x[i] = 0.5f * sinf(2.0f * (float)M_PI * 440.0f * (float)i / (float)rate);
    sf_writef_float(f, x, frames);
    free(x);
    return sf_close(f);
}

static void test_presenter_sound(void)
{
    presenter *p = open_presenter(100.0f, 1);
    if (!p)
        return;
    char path[] = "/tmp/inception-tone-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    CHECK(write_wav(path, 44100, 4410) == 0, "a 100 ms tone at 44.1 kHz written");
    int tone = -1;
    CHECK(presenter_add_sound(p, path, &tone, err) == 0 && tone == 0, "tone loaded: %s", err);
    int bad;
    CHECK(presenter_add_sound(p, "/nonexistent.wav", &bad, err) && strstr(err, "nonexistent"),
          "a missing sound file is named: %s", err);
    FILE *junk = fopen(path, "wb");
    fputs("not a sound", junk);
    fclose(junk);
    CHECK(presenter_add_sound(p, path, &bad, err) && strstr(err, path),
          "a file that is no sound is refused: %s", err);
    unlink(path);
    presenter_start_block(p, err);
    presenter_request q = {42, -1, tone, 50, 5, NULL};
    presenter_submit(p, &q, err);
    presenter_finish_block(p);
    presenter_event ev[2];
    int onsets;
    int n = drain(p, ev, 2, &onsets);
    CHECK(n == 1 && (ev[0].flags & PRESENTER_SOUND_PLAYED), "the tone played (flags %d)",
          n == 1 ? ev[0].flags : -1);
    CHECK(n == 1 && ev[0].sound_onset_ns >= ev[0].onset_ns && ev[0].sound_onset_ns < ev[0].end_ns,
          "its onset, on the same clock, after the onset flip (%.2f ms later)",
          n == 1 ? (ev[0].sound_onset_ns - ev[0].onset_ns) / 1e6 : 0.0);
    presenter_destroy(p);
}

/* Sample-accurate onsets and the audio sync marker, on the dummy audio
 * driver: the frames the callback handed to the device, captured, hold each
 * trial's sound exactly (bit for bit: the device runs at the sound's rate, so
 * nothing is resampled) from the onset sample its event reports, on the left
 * channel, and the right channel carries the 1 ms sync pulse from exactly
 * that frame. */
static void test_presenter_sound_capture(void)
{
    enum { RATE = 16000, CLIP = 800, CAPTURE = 4 * RATE, TRIALS = 3, PULSE = RATE / 1000 };
    presenter_config c = presenter_config_default();
    c.width = 160;
    c.height = 120;
    c.refresh_hz = 100.0f;
    c.audio = 1;
    c.audio_rate = RATE;
    c.audio_sync_ms = 1.0f;
    c.queue_capacity = 32;
    float *capture = calloc(2 * (size_t)CAPTURE, sizeof(float));
    c.audio_capture = capture;
    c.audio_capture_frames = CAPTURE;
    presenter *p = NULL;
    int rc = presenter_create(&p, &c, err);
    CHECK(rc == 0, "presenter with audio capture: %s", rc ? err : presenter_status(p));
    if (rc) {
        free(capture);
        return;
    }
    /* A clip no sample of which is 0 or 1 (so that neither silence nor the
     * pulse can pass for it): a fixed congruential sequence in ±[0.1, 0.5]. */
    float clip[CLIP];
    uint32_t x = 12345;
    for (int i = 0; i < CLIP; i++) {
        x = x * 1664525u + 1013904223u;
        float u = 0.1f + 0.4f * (float)(x >> 8) / (float)(1u << 24);
        clip[i] = (x & 1) ? u : -u;
    }
    int id = -1;
    CHECK(presenter_add_sound_samples(p, clip, CLIP, 1, RATE, &id, err) == 0 && id == 0,
          "a 50 ms clip loaded at the device's rate: %s", err);
    presenter_start_block(p, err);
    for (int t = 0; t < TRIALS; t++) {
        /* 200 ms on, 100 ms off: room for a dummy audio thread that lags on
         * a loaded machine (a sound not begun by its trial's end is reported
         * not played). */
        presenter_request q = {t, -1, id, 20, 10, NULL};
        presenter_submit(p, &q, err);
    }
    presenter_finish_block(p);
    presenter_event ev[TRIALS];
    int onsets, n = drain(p, ev, TRIALS, &onsets);
    CHECK(n == TRIALS, "%d trials with sound reported (want %d)", n, TRIALS);
    int exact = 0, pulses = 0, silent_before = 0;
    int64_t previous = -1;
    for (int t = 0; t < n; t++) {
        int64_t s = ev[t].sound_onset_sample;
        if (s < 0 || s + CLIP > CAPTURE || s <= previous) {
            fprintf(stderr, "# trial %d: onset sample %lld, flags %d\n", t, (long long)s,
                    ev[t].flags);
            continue;
        }
        previous = s;
        int same = 1, pulse = 1;
        for (int k = 0; k < CLIP; k++) {
            same &= capture[2 * (s + k)] == clip[k];
            pulse &= capture[2 * (s + k) + 1] == (k < PULSE ? 1.0f : 0.0f);
        }
        exact += same;
        pulses += pulse;
        if (!same || !pulse) {
            int k = 0;
            while (k < CLIP && capture[2 * (s + k)] == clip[k])
                k++;
            fprintf(stderr, "# trial %d: onset sample %lld, first differing sample %d "
                    "(played %g, clip %g)\n", t, (long long)s, k,
                    k < CLIP ? capture[2 * (s + k)] : 0.0, k < CLIP ? clip[k] : 0.0);
        }
        /* (An onset at frame 0 has no frame before it: the device's first buffer.) */
        silent_before += s == 0 || (capture[2 * (s - 1)] == 0.0f && capture[2 * (s - 1) + 1] == 0.0f);
    }
    CHECK(exact == TRIALS, "%d of %d sounds start exactly at their recorded onset sample in the "
          "captured device stream, sample for sample", exact, TRIALS);
    CHECK(pulses == TRIALS, "%d of %d sync pulses (16 frames of full scale on the right "
          "channel) start at the same frame", pulses, TRIALS);
    CHECK(silent_before == TRIALS, "%d of %d frames before an onset are silent on both "
          "channels", silent_before, TRIALS);
    /* The onset samples are not compared with the presenter's clock here:
     * the dummy driver paces its buffers by sleeping and falls behind on a
     * loaded machine (a real device's own clock does not). */
    presenter_destroy(p);
    free(capture);
}

static void test_config_errors(void)
{
    presenter_config c = presenter_config_default();
    presenter *p;
    c.refresh_hz = 0;
    CHECK(presenter_create(&p, &c, err) && strstr(err, "refresh") && p == NULL,
          "refresh 0 refused: %s", err);
    c = presenter_config_default();
    c.background = 1.5f;
    CHECK(presenter_create(&p, &c, err) && strstr(err, "background"), "background 1.5: %s", err);
    c = presenter_config_default();
    c.pacing = PRESENTER_PACING_VSYNC;
    CHECK(presenter_create(&p, &c, err) && strstr(err, "vsync"),
          "vsync demanded from a driver without it: %s", err);
    c = presenter_config_default();
    c.realtime_priority = 100;
    CHECK(presenter_create(&p, &c, err) && strstr(err, "real-time priority"),
          "real-time priority 100 refused: %s", err);
}

/* The render thread asks for real time itself, before it opens the display:
 * it gets it (privileged) or says why not; never asked, it says -1. */
static void test_realtime(void)
{
    presenter_config c = presenter_config_default();
    presenter *p;
    CHECK(presenter_create(&p, &c, err) == 0 && presenter_realtime(p) == -1,
          "no real time asked for: -1");
    presenter_destroy(p);
    c.realtime_priority = 5;
    if (presenter_create(&p, &c, err)) {
        CHECK(0, "presenter: %s", err);
        return;
    }
    int refused = presenter_realtime(p), policy = -1;
    struct sched_param sp = {0};
    pthread_getschedparam(presenter_thread(p), &policy, &sp);
    if (refused == 0)
        CHECK(policy == SCHED_FIFO && sp.sched_priority == 5,
              "the render thread runs SCHED_FIFO 5 (policy %d, priority %d)", policy,
              sp.sched_priority);
    else
        CHECK(refused == EPERM && policy == SCHED_OTHER,
              "refused for want of privilege (%s), left an ordinary thread", strerror(refused));
    presenter_destroy(p);
}

/* How many of this process's threads (/proc/self/task) run SCHED_FIFO at
 * this priority. */
static int fifo_threads_at(int priority)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        pid_t tid = (pid_t)atoi(e->d_name);
        struct sched_param sp = {0};
        n += sched_getscheduler(tid) == SCHED_FIFO && !sched_getparam(tid, &sp) &&
             sp.sched_priority == priority;
    }
    if (d)
        closedir(d);
    return n;
}

/* Issue 20: the threads the video driver starts as the display opens
 * (Mesa's llvmpipe rasterizers under the offscreen driver) inherit the
 * render thread's real time, and at its own priority they held both cores
 * of a 2-core machine for 12 ms while the render thread waited: they are put
 * 3 steps lower. Needs the offscreen driver (EGL) and the privilege for
 * real time; without either it says so and checks nothing. */
static void test_driver_threads(void)
{
#if defined(__SANITIZE_ADDRESS__)
    /* Mesa's offscreen GL keeps allocations LeakSanitizer reports at exit
     * (test_nonfinite.sh says the same): the release build checks this. */
    printf("# driver threads not checked under AddressSanitizer\n");
    return;
#endif
    presenter_config c = presenter_config_default();
    c.realtime_priority = 5;
    c.width = 64, c.height = 64;
    setenv("SDL_VIDEODRIVER", "offscreen", 1);
    presenter *p;
    int failed = presenter_create(&p, &c, err);
    setenv("SDL_VIDEODRIVER", "dummy", 1);
    if (failed || presenter_realtime(p)) {
        printf("# driver threads not checked: %s\n",
               failed ? err : "no real-time priority here");
        if (!failed)
            presenter_destroy(p);
        return;
    }
    int drivers = presenter_driver_threads(p);
    CHECK(fifo_threads_at(5) == 1, "only the render thread at SCHED_FIFO 5 (%d threads; %s)",
          fifo_threads_at(5), presenter_status(p));
    CHECK(fifo_threads_at(2) == drivers, "the driver's %d threads at SCHED_FIFO 2 (%d found)",
          drivers, fifo_threads_at(2));
    presenter_destroy(p);
}

int main(void)
{
    setenv("SDL_VIDEODRIVER", "dummy", 0);
    setenv("SDL_AUDIODRIVER", "dummy", 0);
    test_gamma_parse();
    test_gamma_roundtrip();
    test_gamma_inverse();
    test_geometry();
    test_schedule_exact();
    test_schedule_drops();
    test_schedule_late_onset_and_idle();
    test_schedule_emulated_display();
    test_schedule_hold_and_abort();
    test_config_errors();
    test_realtime();
    test_driver_threads();
    test_presenter_block();
    test_presenter_keys();
    test_presenter_sound();
    test_presenter_sound_capture();
    return test_done();
}
