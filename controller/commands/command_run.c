/* command_run.c: `inception run PROTOCOL`: the inception loop (run.c), with
 * its progress on one terminal line. */
#include "commands.h"
#include "controller.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char run_help[] =
    "usage: inception run PROTOCOL [--out DIR]\n\n"
    "Run the inception loop a protocol file describes (protocols/demo.yaml against the\n"
    "virtual rig): start the virtual rig as a child process, show the natural images while\n"
    "recording and fit the model in the background, fit it to convergence, synthesize MEIs\n"
    "and their controls for the best-predicted neurons, show them back interleaved, and\n"
    "compare the responses. Everything goes into the session folder's record\n"
    "(controller/record/RECORD.md); `inception record-dump DIR` lists it.\n"
    "With no display (no DISPLAY or WAYLAND_DISPLAY), or with display.mode offscreen, the\n"
    "presenter renders offscreen on a software clock and says so.\n"
    "With virtual_rig.enabled false the stream is an external acquisition system's\n"
    "(endpoints.stream, native or openephys format; its units are learned from it and there\n"
    "is no ground truth); with display.endpoint the stimuli go to `inception present --serve`\n"
    "on another computer.\n\n"
    "  --out DIR   the session folder (default: the protocol's `output`); must not hold a\n"
    "              session already\n";

/* Set by SIGINT/SIGTERM: the one piece of process-wide state, because a
 * signal handler can reach nothing else. The session stops cleanly (the
 * virtual rig stopped, the record closed). */
static volatile int run_interrupted;

static void on_signal(int sig)
{
    (void)sig;
    run_interrupted = 1;
}

typedef struct progress_view {
    int tty;
    const char *last_phase;
    double last_plain;
    int line_open;
} progress_view;

/* Everything the issue asks the terminal to show: phase, trials done/total
 * of the block, the current validation correlation (n/a before the first fit
 * round), MEI progress, dropped frames and stream loss. */
static void status_text(const run_status *s, char *text, size_t size)
{
    int n = snprintf(text, size, "[%6.1f s] %-11s", s->seconds, s->phase);
    if (s->trials_total && n < (int)size)
        n += snprintf(text + n, size - (size_t)n, " trials %d/%d", s->trials_done,
                      s->trials_total);
    if (n < (int)size && isnan(s->validation_corr))
        n += snprintf(text + n, size - (size_t)n, " | fit %d, val corr n/a", s->fit_rounds);
    else if (n < (int)size)
        n += snprintf(text + n, size - (size_t)n, " | fit %d, val corr %.3f", s->fit_rounds,
                      s->validation_corr);
    if (s->mei_steps && n < (int)size)
        n += snprintf(text + n, size - (size_t)n, " | MEI step %d/%d (%d of %d improving)",
                      s->mei_step, s->mei_steps, s->mei_active, s->mei_images);
    double lost = s->stream_messages + s->stream_lost
                      ? 100.0 * (double)s->stream_lost /
                            (double)(s->stream_messages + s->stream_lost)
                      : 0.0;
    if (n < (int)size)
        snprintf(text + n, size - (size_t)n, " | dropped frames %lld | stream lost %llu of "
                 "%llu (%.2f%%), flagged trials %d", (long long)s->dropped_frames,
                 (unsigned long long)s->stream_lost,
                 (unsigned long long)(s->stream_messages + s->stream_lost), lost,
                 s->flagged_trials);
}

/* A TTY gets one line redrawn in place; a pipe or file a plain line every
 * 5 s and at each phase change. Messages are always their own line. */
static void show_progress(const run_status *s, void *user)
{
    progress_view *v = user;
    char text[512];
    if (s->message) {
        if (v->line_open)
            fputs("\r\033[K", stdout);
        printf("%s\n", s->message);
        v->line_open = 0;
    }
    status_text(s, text, sizeof text);
    int changed = v->last_phase != s->phase;
    v->last_phase = s->phase;
    if (v->tty) {
        printf("\r\033[K%s", text);
        v->line_open = 1;
    } else if (changed || s->seconds - v->last_plain >= 5.0) {
        printf("%s\n", text);
        v->last_plain = s->seconds;
    }
    fflush(stdout);
}

/* What `run` and `resume` share: the environment for SDL, the signals, the
 * session, its summary and its report (OpenMP's passive workers: main.c,
 * before the command). `remote`: the display is another computer's
 * (display.endpoint), so no presenter runs here. */
static void prepare_environment(int *mode, int remote)
{
    /* Before SDL starts: with no display the presenter renders offscreen. */
    int headless = !getenv("DISPLAY") && !getenv("WAYLAND_DISPLAY");
    if (*mode == PROTOCOL_DISPLAY_OFFSCREEN || headless) {
        if (*mode != PROTOCOL_DISPLAY_OFFSCREEN && !remote)
            printf("no display (DISPLAY and WAYLAND_DISPLAY unset): the presenter renders "
                   "offscreen\n");
        *mode = PROTOCOL_DISPLAY_OFFSCREEN;
        setenv("SDL_VIDEODRIVER", "offscreen", 0); /* "dummy" set beforehand works too */
    }
    setenv("SDL_AUDIODRIVER", "dummy", 0);
    setenv("SDL_NO_SIGNAL_HANDLERS", "1", 1); /* ours stop the session cleanly */
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
}

/* All three recorded comparisons and the counts behind each median. */
static void print_recorded_comparisons(const run_result *r)
{
    static const char *const images[RUN_CONTROLS] = {"best natural", "matched Gabor",
                                                     "RF map", NULL};
    static const char *const sounds[RUN_CONTROLS] = {"best natural", NULL, "STRF optimum",
                                                     "pure tone"};
    const char *const *names = r->audio ? sounds : images;
    for (int c = 0; c < RUN_CONTROLS; c++) {
        if (!names[c]) /* audio: no matched Gabor; images: no tone */
            continue;
        if (c == RUN_CONTROL_TONE && r->recorded_compared[c] < 0 &&
            !isfinite(r->recorded_ratio[c]))
            continue; /* a control most audio sessions do not ask for */
        if (r->recorded_compared[c] < 0) { /* a record written before the counts were */
            if (isfinite(r->recorded_ratio[c]))
                printf("  MEI / %s: median %.3f (the record holds no counts behind it)\n",
                       names[c], r->recorded_ratio[c]);
            else
                printf("  MEI / %s: not evaluated\n", names[c]);
            continue;
        }
        if (r->recorded_compared[c] == 0) {
            printf("  MEI / %s: no target with both responses recorded\n", names[c]);
            continue;
        }
        int n = r->recorded_compared[c], beat = r->recorded_beat[c], below = r->recorded_below[c];
        printf("  MEI / %s: median %.3f over %d targets; the MEI beats it for %d, is below it "
               "for %d, undecided for %d", names[c], r->recorded_ratio[c], n, beat, below,
               n - beat - below);
        /* A target has no ratio when the control drew no spike in any
         * repeat or either kind kept no unflagged repeat (run.c
         * evaluate_ratios): say so, rather than let the count shrink. */
        if (r->targets > n)
            printf("; %d more without a ratio (no unflagged repeat, or no spike to the control)",
                   r->targets - n);
        printf("\n");
    }
    printf("  (beats: the MEI's 95%% interval of the mean lies wholly above the control's; "
           "below: wholly below; overlapping intervals are undecided)\n");
    if (r->recorded_natural_training_count > 0)
        printf(r->audio ? "  MEI / the training clip with the highest recorded response (one "
                          "trial): median %.3f over %d targets\n"
                        : "  MEI / the training image with the highest recorded response (one "
                          "trial, at its own contrast): median %.3f over %d targets\n", r->recorded_ratio_natural_training,
               r->recorded_natural_training_count);
}

void command_print_test_feve(const metrics_feve_summary *feve, double corr_mean)
{
    printf("model test FEVE %.3f (correlation to average %.3f; the mean over %d neurons with "
           "FEV >= %.2f, median %.3f)\n", feve->mean, corr_mean, feve->kept,
           (double)METRICS_FEV_MIN, feve->median);
    if (feve->below_minus_one > 0)
        printf("  %d of them below -1 (lowest: neuron %d, %.1f): near-silent neurons, whose "
               "explainable variance is tiny in spikes², so a prediction off by a spike or two "
               "is a huge negative FEVE; the median is the robust figure\n",
               feve->below_minus_one, feve->lowest_neuron, feve->lowest);
}

static int finish(const char *command, int status, const run_result *r, char *err)
{
    if (status) {
        fprintf(stderr, "inception %s: %s\n", command, err);
        return 1;
    }
    printf("session %s: %d trials (%d flagged), %d targets, %.1f s\n", r->session_dir,
           r->trials_recorded, r->trials_flagged, r->targets, r->seconds);
    if (r->trials_flagged_late)
        printf("%d trials flagged after they were recorded (a span of possible loss came "
               "later: trial_flags records)\n", r->trials_flagged_late);
    command_print_test_feve(&r->test_feve, r->test_corr_mean);
    printf("recorded responses: median MEI / best natural %.3f\n", r->median_ratio_recorded);
    print_recorded_comparisons(r);
    if (isnan(r->median_ratio_truth))
        printf("ground truth: none (the stream came from an external acquisition system; "
               "the recorded responses above are the evaluation)\n");
    else if (r->audio)
    {
        printf("ground truth: median MEI / best natural training clip %.3f (all at the same "
               "RMS level); the MEI beats it for %d of %d targets\n", r->median_ratio_truth,
               r->truth_beats_best_natural, r->truth_scored);
        if (r->truth_beats_rf >= 0)
            printf("ground truth: the MEI beats the fitted STRF's optimum for %d of %d targets\n",
                   r->truth_beats_rf, r->truth_scored);
        if (r->truth_beats_tone >= 0)
            printf("ground truth: the MEI beats the pure tone at the model's best frequency for "
                   "%d of %d targets\n", r->truth_beats_tone, r->truth_scored);
    }
    else
        printf("ground truth: median MEI / best natural training image %.3f (target > 1.3; "
               "the image at the contrast budget, as the MEI; at its own contrast %.3f)\n",
               r->median_ratio_truth, r->median_ratio_truth_own_contrast);
    if (r->truth_disagrees > 0)
        printf("WARNING: for %d target-control pairs the recording says the MEI beats the "
               "control but the ground truth ranks the control at or above the MEI\n",
               r->truth_disagrees);
    if (!isnan(r->median_ratio_truth) && r->truth_scored > 0 && !r->audio)
        printf("ground truth: the MEI beats the matched Gabor for %d of %d targets, the RF map "
               "for %d of %d\n", r->truth_beats_gabor, r->truth_scored, r->truth_beats_rf,
               r->truth_scored);
    if (r->truth_search_scored > 0 && r->truth_search_least)
        printf("ground truth: the search's least exciting image is below the least exciting "
               "natural training image for %d of %d targets (median search / least natural "
               "%.3f), below the least exciting input for %d of %d\n",
               r->truth_search_beats_natural, r->truth_search_scored,
               r->median_ratio_truth_search, r->truth_search_beats_mei, r->truth_search_scored);
    else if (r->truth_search_scored > 0)
        printf("ground truth: the search's image beats the best natural training image for %d "
               "of %d targets (median search / best natural %.3f), the MEI for %d of %d\n",
               r->truth_search_beats_natural, r->truth_search_scored,
               r->median_ratio_truth_search, r->truth_search_beats_mei, r->truth_search_scored);
    if (r->truth_baseline_scored >= 0)
        printf("ground truth: neurons with a baseline rate: least exciting input below the least "
               "exciting natural training image for %d of %d (median least/least natural %.3f)\n",
               r->truth_baseline_least_below, r->truth_baseline_scored,
               r->median_ratio_truth_baseline_least);
    /* The report is written last: the record is complete and closed, and a
     * failure here loses nothing (`inception report DIR` can be run again). */
    report_summary rs;
    if (report_write(r->session_dir, &rs, err)) {
        fprintf(stderr, "inception %s: the session is recorded, but its report failed: %s "
                        "(try: inception report %s)\n", command, err, r->session_dir);
        return 1;
    }
    printf("report: %s/report/index.html (%d figures)\n", r->session_dir, rs.figures);
    return 0;
}

int command_run(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(run_help, stdout);
        return 0;
    }
    cli_option o[] = {{"out", 1, NULL}};
    int n = COUNT(o);
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "inception run: which protocol? (usage: inception run PROTOCOL "
                        "[--out DIR])\n");
        return 2;
    }
    if (cli_parse("run", argc - 1, argv + 1, o, n))
        return 2;
    char err[CONTROLLER_ERR_SIZE];
    protocol *p;
    if (protocol_load(argv[1], &p, err)) {
        fprintf(stderr, "inception run: %s\n", err);
        return 2;
    }
    prepare_environment(&p->display.mode, p->display.endpoint[0] != 0);
    progress_view view = {isatty(1), NULL, -1e9, 0};
    run_options ro = {cli_get(o, n, "out"), "/proc/self/exe", show_progress, &view,
                      &run_interrupted, 0};
    run_result r;
    int status = run_session(p, &ro, &r, err);
    if (view.line_open)
        putchar('\n');
    protocol_destroy(p);
    return finish("run", status, &r, err);
}

static const char resume_help[] =
    "usage: inception resume DIR\n\n"
    "Continue the session in DIR that `inception run` did not finish (killed, crashed, power\n"
    "lost): the record is reopened and a torn last record cut off, the protocol is the one\n"
    "the session started with, phases that ended are not redone, every recorded trial is\n"
    "kept, and images that were scheduled but never answered are shown again as new trial\n"
    "numbers. A new virtual rig writes its ground truth to DIR/rig_truth.K (the earlier\n"
    "rig's stays in rig_truth). Then the session goes on to its end and its report.\n"
    "Refused (exit 1, nothing changed): a session that finished, and one that another\n"
    "process (a run, a resume) is still writing: its pid is named.\n";

int command_resume(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(resume_help, stdout);
        return 0;
    }
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "inception resume: which session folder? (usage: inception resume DIR)\n");
        return 2;
    }
    if (cli_parse("resume", argc - 1, argv + 1, NULL, 0))
        return 2;
    /* The display mode comes from the recorded protocol: offscreen unless a
     * display is there, decided the same way as `run`. */
    int mode = getenv("DISPLAY") || getenv("WAYLAND_DISPLAY")
                                     ? PROTOCOL_DISPLAY_WINDOWED
                                     : PROTOCOL_DISPLAY_OFFSCREEN;
    prepare_environment(&mode, 0); /* offscreen when headless: says nothing */
    char err[CONTROLLER_ERR_SIZE];
    progress_view view = {isatty(1), NULL, -1e9, 0};
    run_options ro = {NULL, "/proc/self/exe", show_progress, &view, &run_interrupted,
                      mode == PROTOCOL_DISPLAY_OFFSCREEN};
    run_result r;
    int status = run_resume(argv[1], &ro, &r, err);
    if (view.line_open)
        putchar('\n');
    return finish("resume", status, &r, err);
}
