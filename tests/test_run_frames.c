/* test_run_frames.c: the display's verdicts on a block's trials
 * (controller/session/run_frames.c): a trial whose response completes before its
 * TRIAL event waits, with its counts, until the verdict comes; wrong frames
 * give RUN_TRIAL_FRAMES, a verdict that never came (an event lost) does too
 * once the block is over. */
#include "session/run_internal.h"
#include "test.h"

#include <string.h>

static presenter_event trial_event(int64_t trial, int flags)
{
    presenter_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = PRESENTER_EVENT_TRIAL;
    ev.trial = trial;
    ev.sound = -1; /* an image trial, as the presenter reports one */
    ev.sound_onset_sample = -1;
    ev.flags = flags;
    return ev;
}

static acq_trial completed(uint64_t trial)
{
    acq_trial t;
    memset(&t, 0, sizeof t);
    t.trial = trial;
    t.stimulus_id = 100 + trial;
    t.flags = trial == 12 ? 4u : 0u; /* an aligner flag the verdict must keep */
    return t;
}

int main(void)
{
    char err[CONTROLLER_ERR_SIZE];
    run_frames f;
    memset(&f, 0, sizeof f);
    CHECK(run_frames_begin(&f, 10, 5, 3, err) == 0, "a block of trials 10..14, 3 units");
    CHECK(run_frames_flags(&f, 10, 0) == -1 &&
              run_frames_flags(&f, 9, 0) == (int)RUN_TRIAL_FRAMES,
          "unknown until its event; a trial of no block of ours is never vouched for");
    /* Trials 10..13 complete before any verdict. */
    for (int k = 10; k < 14; k++) {
        acq_trial t = completed((uint64_t)k);
        float counts[3] = {(float)k, (float)k + 0.5f, (float)k + 0.25f};
        CHECK(run_frames_hold(&f, &t, counts) == 0, "trial %d held", k);
    }
    acq_trial t;
    float counts[3];
    CHECK(run_frames_release(&f, 0, &t, counts) == 0, "nothing leaves without its verdict");
    presenter_event ok = trial_event(11, 0), late_only = trial_event(12, PRESENTER_LATE_ONSET),
                    dropped = trial_event(10, PRESENTER_DROPPED_FRAMES | PRESENTER_WRONG_DURATION);
    run_frames_verdict(&f, &ok);
    run_frames_verdict(&f, &late_only);
    run_frames_verdict(&f, &dropped);
    presenter_event again = trial_event(11, PRESENTER_WRONG_DURATION);
    run_frames_verdict(&f, &again);
    CHECK(run_frames_flags(&f, 10, 0) == (int)RUN_TRIAL_FRAMES &&
              run_frames_flags(&f, 11, 0) == 0 && run_frames_flags(&f, 12, 0) == 0,
          "dropped frames flag it; as asked (a late onset alone included) does not; the first "
          "verdict stands");
    int64_t order[3];
    int n = 0, counts_ok = 1;
    while (n < 3 && run_frames_release(&f, 0, &t, counts)) {
        order[n++] = (int64_t)t.trial;
        counts_ok &= counts[0] == (float)t.trial && counts[1] == (float)t.trial + 0.5f &&
                     counts[2] == (float)t.trial + 0.25f && t.stimulus_id == 100 + t.trial &&
                     t.flags == (t.trial == 12 ? 4u : 0u);
    }
    CHECK(n == 3 && order[0] == 10 && order[1] == 11 && order[2] == 12 && counts_ok,
          "the three with verdicts leave in the order they completed, with their own counts "
          "and aligner flags");
    CHECK(run_frames_release(&f, 0, &t, counts) == 0 && f.held_count == 1,
          "trial 13 still waits");
    CHECK(run_frames_release(&f, 1, &t, counts) == 1 && t.trial == 13 &&
              run_frames_flags(&f, 13, 1) == (int)RUN_TRIAL_FRAMES,
          "once the block is over its lost verdict counts as wrong frames");
    CHECK(run_frames_begin(&f, 15, 2, 3, err) == 0 && f.held_count == 0 &&
              run_frames_flags(&f, 15, 0) == -1 &&
              run_frames_flags(&f, 10, 0) == (int)RUN_TRIAL_FRAMES,
          "a new block starts with no verdicts");
    /* Each wrong-frames cause alone flags its trial (stimulus.h: a stimulus
     * or ISI not on screen for the frames asked, an interval over 1.5
     * periods, a trial cut short by Escape). */
    CHECK(run_frames_begin(&f, 20, 3, 3, err) == 0, "a block of trials 20..22");
    presenter_event aborted = trial_event(20, PRESENTER_ABORTED),
                    wrong = trial_event(21, PRESENTER_WRONG_DURATION),
                    drop = trial_event(22, PRESENTER_DROPPED_FRAMES);
    run_frames_verdict(&f, &aborted);
    run_frames_verdict(&f, &wrong);
    run_frames_verdict(&f, &drop);
    CHECK(run_frames_flags(&f, 20, 0) == (int)RUN_TRIAL_FRAMES &&
              run_frames_flags(&f, 21, 0) == (int)RUN_TRIAL_FRAMES &&
              run_frames_flags(&f, 22, 0) == (int)RUN_TRIAL_FRAMES,
          "a trial cut short, one of the wrong duration and one with a dropped frame: each "
          "flagged alone (%d, %d, %d)", run_frames_flags(&f, 20, 0), run_frames_flags(&f, 21, 0),
          run_frames_flags(&f, 22, 0));
    CHECK(run_frames_begin(&f, 20, 2, 3, err) == 0, "a block of trials 20, 21");
    /* Audio trials (a block of two): a sound that played as asked gives its onset
     * sample; one cut by the next sound (its ISI over first) is flagged. */
    presenter_event played = trial_event(20, PRESENTER_SOUND_PLAYED),
                    cut = trial_event(21, PRESENTER_SOUND_PLAYED | PRESENTER_SOUND_CUT);
    played.sound = cut.sound = 0;
    played.sound_onset_sample = 4096;
    cut.sound_onset_sample = 8192;
    run_frames_verdict(&f, &played);
    run_frames_verdict(&f, &cut);
    CHECK(run_frames_flags(&f, 20, 0) == 0 && run_frames_sound_sample(&f, 20) == 4096 &&
              run_frames_flags(&f, 21, 0) == (int)RUN_TRIAL_FRAMES &&
              run_frames_sound_sample(&f, 21) == -1 && run_frames_sound_sample(&f, 19) == -1,
          "a sound played as asked keeps its onset sample; a cut one is flagged and has none");
    run_frames_free(&f);
    return test_done();
}
