/* run.c: `inception run`, the inception loop (controller.h, run_session).
 *
 * One thread, the run loop, owns the session record, the aligner and the
 * schedule; around it: the presenter's SDL thread (stimuli on screen, never
 * waiting on anything here), the receiver's thread (the stream), the
 * background fit thread (fit_worker.c) and the virtual rig, a child process.
 * Phases: start, recording, fit, synthesis, closed_loop, search, evaluation;
 * each begins and ends with a phase record (fsync'd).
 *
 * This file is the core: the run's state made and undone (run_init,
 * run_finish), the phases in their order (run_session) and the helpers
 * every part uses (run_fail, run_progress, run_phase). The parts, each in
 * its own file and sharing run_state through run_internal.h: run_start.c
 * (folder, rig, stream, presenter), run_stream.c (the stream into the record
 * and the aligner), run_trials.c (completed trials), run_blocks.c (blocks
 * shown), run_images.c (the image table), run_phases.c (recording, fit,
 * synthesis, closed loop), run_search.c, run_evaluate.c and run_resume.c. */
#include "acquisition.h"
#include "run_internal.h"
#include "stimulus.h"

#include <fftw3.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* In the order of their bits in a resumed session's `begun` and `ended`:
 * the search phase came later and is last, though it runs before the
 * evaluation. */
static const char *const phase_names[] = {"start", "recording", "fit", "synthesis",
                                          "closed_loop", "evaluation", "search"};
enum { PHASE_COUNT = 7 };

int run_phase_index(const char *name)
{
    for (int i = 0; i < PHASE_COUNT; i++)
        if (!strcmp(name, phase_names[i]))
            return i;
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Small helpers */

int run_fail(run_state *s, const char *fmt, const char *detail)
{
    snprintf(s->err, CONTROLLER_ERR_SIZE, fmt, detail);
    return 1;
}

static double seconds_since(int64_t start_ns)
{
    return (double)(record_monotonic_ns() - (uint64_t)start_ns) / 1e9;
}

void run_progress(run_state *s, const char *message, int force)
{
    int64_t now = (int64_t)record_monotonic_ns();
    if (!s->o->progress || (!force && !message && now - s->last_progress_ns < 100000000))
        return;
    s->last_progress_ns = now;
    if (s->fit)
        fit_worker_status(s->fit, &s->st.fit_rounds, &s->st.validation_corr);
    if (s->stream) {
        acq_stats as;
        acq_receiver_stats(s->stream, &as);
        s->st.stream_lost = as.lost;
        s->st.stream_messages = as.messages;
    }
    s->st.seconds = seconds_since(s->start_ns);
    s->st.message = message;
    s->o->progress(&s->st, s->o->user);
    s->st.message = NULL;
}

int run_interrupted(run_state *s)
{
    if (!s->o->stop || !*s->o->stop)
        return 0;
    snprintf(s->err, CONTROLLER_ERR_SIZE, "interrupted during the %s phase", s->st.phase);
    return 1;
}

/* The fault tests' hook: with INCEPTION_STOP_AT=PHASE in the environment the
 * process stops itself (SIGSTOP) as that phase begins, its begin record on
 * disk and its progress line out, so that a test can SIGKILL it exactly
 * there (tests/test_resume_audio.sh; docs/testing.md). A phase too short to
 * hit with a timed kill, such as an audio session's evaluation, is killed
 * this way. Unset, nothing happens. */
static void stop_if_asked(const char *name, const char *event)
{
    const char *at = getenv("INCEPTION_STOP_AT");
    if (at && !strcmp(event, "begin") && !strcmp(at, name))
        raise(SIGSTOP);
}

int run_phase(run_state *s, const char *name, const char *event)
{
    if (run_interrupted(s))
        return 1;
    s->st.phase = name;
    /* A resumed session continues a phase that began before the kill. */
    int k = run_phase_index(name);
    int again = k >= 0 && !strcmp(event, "begin") && (s->begun >> k & 1);
    if (!again && session_record_phase(s->rec, name, event, s->err))
        return 1;
    run_progress(s, NULL, 1);
    stop_if_asked(name, event);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The run's state, made and undone, and the session's phases in order */

static void run_destroy(run_state *s)
{
    run_display_close(&s->display);
    fit_worker_destroy(s->fit);
    rig_process_stop(&s->rig, 5000);
    acq_receiver_destroy(s->stream);
    free(s->unit_map_noted);
    acq_publisher_destroy(s->onsets);
    acq_aligner_destroy(s->aligner);
    session_fit_result_free(&s->fr);
    if (s->data.images)
        dataset_free(&s->data);
    free(s->images.pixels);
    free(s->images.kind);
    free(s->images.neuron);
    free(s->images.tier);
    free(s->images.sha256);
    free(s->closed.trial);
    free(s->images.clips);
    free(s->made_clips);
    free(s->closed.image_id);
    free(s->recorded);
    free(s->closed.counts);
    free(s->counts);
    free(s->targets);
    free(s->search_best);
    run_patterns_free(&s->patterns);
    run_frames_free(&s->frames);
}

/* What run_session and run_resume share: the state from the protocol. */
int run_init(run_state *s, const protocol *p, const run_options *o, run_result *out,
             const char *dir, char *err)
{
    memset(s, 0, sizeof *s);
    memset(out, 0, sizeof *out);
    out->median_ratio_recorded = out->median_ratio_truth = NAN;
    out->median_ratio_truth_own_contrast = NAN;
    out->recorded_ratio_natural_training = NAN;
    out->recorded_natural_training_count = -1;
    out->truth_beats_gabor = out->truth_beats_rf = out->truth_scored = -1;
    out->truth_disagrees = -1;
    out->truth_search_scored = out->truth_search_beats_natural = -1;
    out->truth_search_beats_mei = -1;
    out->median_ratio_truth_search = NAN;
    out->truth_baseline_scored = out->truth_baseline_least_below = -1;
    out->median_ratio_truth_baseline_least = NAN;
    for (int c = 0; c < RUN_CONTROLS; c++) {
        out->recorded_ratio[c] = NAN;
        out->recorded_compared[c] = out->recorded_beat[c] = out->recorded_below[c] = -1;
    }
    out->test_corr_mean = NAN;
    metrics_feve_summarize(NULL, 0, &out->test_feve); /* none yet: NaN, 0, -1 */
    s->p = p;
    s->o = o;
    s->res = out;
    s->err = err;
    s->start_ns = (int64_t)record_monotonic_ns();
    s->st.phase = "start";
    s->st.validation_corr = NAN;
    s->stream_reached_ns = INT64_MIN;
    s->H = p->images.height;
    s->W = p->images.width;
    s->audio = out->audio = p->modality == PROTOCOL_MODALITY_AUDIO;
    out->truth_beats_best_natural = out->truth_beats_tone = -1;
    if (s->audio) { /* the model's input is the clip's cochleagram */
        s->S = session_sound_samples(p);
        if (session_sound_image_size(p, &s->H, &s->W, err))
            return 1;
    }
    s->P = s->H * s->W;
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    snprintf(out->session_dir, sizeof out->session_dir, "%s", s->dir);
    /* FFTW's planner is process-global: the fit thread and synthesis both plan. */
    fftwf_make_planner_thread_safe();
    /* An external acquisition system's units may be learned from its stream. */
    return run_set_units(s, p->virtual_rig.enabled ? p->virtual_rig.neurons
                        : p->endpoints.units ? p->endpoints.units + p->endpoints.electrodes : 0);
}

/* The last notes, then everything stopped and the record closed. */
int run_finish(run_state *s, int status, char *err)
{
    run_result *out = s->res;
    out->seconds = seconds_since(s->start_ns);
    if (!status) {
        status = run_drain_stream_tail(s);
    } else if (s->rec) { /* what the stream holds is recorded even so; the error stands */
        char *reason = s->err, ignored[CONTROLLER_ERR_SIZE];
        s->err = ignored;
        run_drain_stream_tail(s);
        s->err = reason;
    }
    if (!status) {
        char note[256];
        if (s->p->virtual_rig.enabled)
            snprintf(note, sizeof note, "done in %.1f s: test FEVE %.3f, median ground-truth "
                     "ratio MEI/best natural %.3f", out->seconds, out->test_feve.mean,
                     out->median_ratio_truth);
        else
            snprintf(note, sizeof note, "done in %.1f s: test FEVE %.3f, median recorded ratio "
                     "MEI/best natural %.3f (no ground truth: an external acquisition system)",
                     out->seconds, out->test_feve.mean, out->median_ratio_recorded);
        status = session_record_note(s->rec, note, err) || session_record_sync(s->rec, err);
    } else if (s->rec) {
        char note[CONTROLLER_ERR_SIZE + 16], ignored[CONTROLLER_ERR_SIZE];
        snprintf(note, sizeof note, "failed: %s", err);
        session_record_note(s->rec, note, ignored);
    }
    run_destroy(s);
    char close_err[CONTROLLER_ERR_SIZE];
    if (s->rec && session_record_close(s->rec, close_err) && !status) {
        controller_fail(err, "%s", close_err);
        status = 1;
    }
    session_lock_release(s->lock);
    return status;
}

static int phase_search(run_state *s) { return run_search(s, NULL); }

int run_session(const protocol *p, const run_options *o, run_result *out, char *err)
{
    run_state s;
    int64_t *closed = NULL;
    int n_closed = 0;
    int status = run_init(&s, p, o, out, o->out_dir ? o->out_dir : p->output, err);
    status = status || run_phase_start(&s) || run_phase_recording(&s) || run_phase_fit(&s) ||
             run_phase_synthesis(&s, &closed, &n_closed) || run_phase_closed_loop(&s, closed, n_closed) ||
             phase_search(&s) || run_phase_evaluation(&s);
    free(closed);
    return run_finish(&s, status, err);
}
