/* run_start.c: the start phase of `inception run` (and what a resume
 * starts again): the session folder, the record, the virtual rig, the
 * stream's receiver, the onset publisher and the aligner, the presenter and
 * the frame path's scheduling. Apart from the run loop because it is done
 * once, before anything is shown. */
#include "acquisition.h"
#include "run_internal.h"
#include "stimulus.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int make_session_dir(run_state *s)
{
    char path[PROTOCOL_STRING_SIZE], why[PROTOCOL_STRING_SIZE + 128];
    snprintf(path, sizeof path, "%s", s->dir);
    for (char *c = path + 1; *c; c++) { /* mkdir -p */
        if (*c != '/')
            continue;
        *c = 0;
        if (mkdir(path, 0777) && errno != EEXIST) {
            snprintf(why, sizeof why, "%s: %s", path, strerror(errno));
            return run_fail(s, "cannot create %s", why);
        }
        *c = '/';
    }
    if (mkdir(path, 0777) && errno != EEXIST) {
        snprintf(why, sizeof why, "%s: %s", path, strerror(errno));
        return run_fail(s, "cannot create the session folder %s", why);
    }
    return 0;
}

static int open_aligner(run_state *s, int votes);

int run_open_streams(run_state *s)
{
    char err[ACQ_ERR_SIZE];
    acq_receiver_config rc;
    acq_receiver_config_default(&rc);
    rc.socket.endpoint = s->p->endpoints.stream;
    rc.queue_capacity = 1 << 17; /* minutes of bins while the fit holds the loop */
    if (s->p->endpoints.format == PROTOCOL_STREAM_OPENEPHYS) {
        rc.format = ACQ_FORMAT_OPENEPHYS;
        rc.units = s->p->endpoints.units;
        rc.electrodes = s->p->endpoints.electrodes;
        rc.sample_rate = s->p->endpoints.sample_rate;
        rc.bin_width_ns = (uint32_t)((double)s->p->endpoints.bin_ms * 1e6 + 0.5);
    }
    if (acq_receiver_create(&s->stream, NULL, &rc, err))
        return run_fail(s, "stream: %s", err);
    acq_socket_config pc = {.endpoint = s->p->endpoints.sync, .bind = 1};
    if (acq_publisher_create(&s->onsets, NULL, &pc, 2, (uint32_t)s->p->seed, err))
        return run_fail(s, "onset publisher: %s", err);
    return open_aligner(s, 3);
}

/* The aligner; the first clock offset is the one `votes` onsets agree on
 * (WIRE.md: a fresh session's three). */
static int open_aligner(run_state *s, int votes)
{
    char err[ACQ_ERR_SIZE];
    acq_align_config ac;
    acq_align_config_default(&ac);
    ac.latency_ns = (int64_t)((double)s->p->response.latency_ms * 1e6 + 0.5);
    ac.window_ns = (int64_t)((double)s->p->response.duration_ms * 1e6 + 0.5);
    ac.sync_line = s->p->endpoints.sync_line;
    ac.min_initial_matches = votes;
    ac.jittered_onsets = s->p->timing.isi_jitter_frames > 0;
    if (ac.history_ns < 2 * ac.window_ns + 2000000000LL)
        ac.history_ns = 2 * ac.window_ns + 2000000000LL;
    acq_aligner_destroy(s->aligner);
    s->aligner = NULL;
    if (acq_aligner_create(&s->aligner, &ac, err))
        return run_fail(s, "aligner: %s", err);
    s->aligner_votes = votes;
    return 0;
}

/* A resumed session's first block may be shorter than the three onsets a
 * fresh session's first offset waits for (down to a single image left
 * unanswered by the kill): its vote then takes all the block's onsets, and
 * three whenever the block has them. The aligner is made again for it: what
 * it held came before any onset of this run. */
int run_first_resumed_block(run_state *s, int count)
{
    int votes = count < 3 ? count : 3;
    s->first_block_started = 1;
    if (votes != s->aligner_votes && open_aligner(s, votes))
        return 1;
    char note[160];
    snprintf(note, sizeof note, "resumed: the first clock offset is voted on by %d onsets "
             "(the first block has %d trials)", votes, count);
    run_progress(s, note, 1);
    return session_record_note(s->rec, note, s->err);
}

/* Real-time scheduling for the render and receiver threads, or the
 * fallback (run_sched.c): printed at start and recorded as a note with its
 * figures as fields. */
static int protect_frame_path(run_state *s)
{
    if (run_sched_protect(&s->sched, s->display.local,
                          s->stream ? acq_receiver_thread(s->stream) : pthread_self(),
                          s->stream != NULL, s->err))
        return 1;
    static const char *const modes[] = {"off", "realtime", "fallback"};
    run_progress(s, s->sched.text, 1);
    record_note n = {.text = s->sched.text,
                     .scheduling = modes[s->sched.mode],
                     .cpus = s->sched.cpus,
                     .presenter_cpu = s->sched.presenter_cpu,
                     .fit_nice = s->sched.fit_nice,
                     .memory_locked = s->sched.mlocked,
                     .aligning_realtime = s->sched.aligning_realtime,
                     .driver_threads = s->sched.driver_threads};
    return session_record_note_fields(s->rec, &n, s->err);
}

int run_open_presenter(run_state *s)
{
    int priority = run_sched_presenter_priority(s->err);
    if (priority < 0 || run_display_open(&s->display, s->p, priority, s->err))
        return 1;
    s->period_ms = s->display.ops.period_ms(s->display.ops.display);
    run_progress(s, s->display.status, 1);
    return session_record_note(s->rec, s->display.status, s->err) || protect_frame_path(s);
}

/* The rig's pid and start time go to the record too (and to virtual_rig.pid,
 * which a resume reads to stop a rig its killed controller left). */
int run_note_rig(run_state *s, const char *what)
{
    char note[256];
    snprintf(note, sizeof note, "virtual rig %s: pid %d, start time %llu (its log: "
             "virtual_rig.log in the session folder)", what, (int)s->rig.pid,
             s->rig.start_time);
    run_progress(s, note, 1);
    return session_record_note(s->rec, note, s->err);
}

int run_phase_start(run_state *s)
{
    const protocol *p = s->p;
    if (make_session_dir(s) || session_lock_take(s->dir, 0, &s->lock, s->err) ||
        session_record_create_for(s->dir, p, &s->rec, s->err) ||
        run_phase(s, "start", "begin"))
        return 1;
    if (p->virtual_rig.enabled) {
        const char *exe = s->o->rig_executable ? s->o->rig_executable : "/proc/self/exe";
        if (rig_process_start(&s->rig, exe, p, s->dir, s->err) || run_note_rig(s, "started"))
            return 1;
    }
    if (run_open_streams(s) || run_wait_for_stream(s) || run_open_presenter(s))
        return 1;
    return run_phase(s, "start", "end");
}
