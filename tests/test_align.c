/* test_align.c: the aligner against a known clock (offset, drift, jitter) and
 * known bins. Expected trial sums are computed here by brute force over all
 * bins (centre in the window), and the clock fit by the textbook
 * least-squares formula in long double: both independent of align.c. Window
 * boundaries exactly on bin centres, natively and through the Open Ephys
 * binner, against an oracle in whole samples. */
#include "acquisition.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define UNITS 5
#define WIDTH 10000000LL          /* 10 ms bins */
#define D0 1000000000000LL        /* display clock at the first onset */
#define A0 3000000000LL           /* acquisition clock at the first onset */
#define DRIFT 50e-6
#define T0 2500000000LL           /* first bin */
#define MAX_TRIALS 64

typedef struct scenario {
    int trials;
    int64_t display[MAX_TRIALS], edge[MAX_TRIALS], received[MAX_TRIALS];
    int drop_edge[MAX_TRIALS];
    int64_t extra_edge[4];
    int nextra;
    int64_t drop_bin, conflict_bin, swap_bin; /* bin numbers, -1 none */
    int nbins;
    int regular;
} scenario;

static uint64_t lcg = 12345;
static double uniform(void)
{
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(lcg >> 11) / 9007199254740992.0;
}

static int64_t true_acq(int64_t d) { return A0 + (int64_t)llround((double)(d - D0) * (1 + DRIFT)); }

static float bin_count(int64_t k, int u) { return (float)((k * 31 + u * 7) % 4); }

static void make(scenario *s, int trials, int regular)
{
    memset(s, 0, sizeof *s);
    s->trials = trials;
    s->regular = regular;
    s->drop_bin = s->conflict_bin = s->swap_bin = -1;
    int64_t d = D0;
    for (int i = 0; i < trials; i++) {
        s->display[i] = d;
        s->edge[i] = true_acq(d) + (int64_t)((uniform() - 0.5) * 400000); /* ±0.2 ms */
        s->received[i] = d - D0 + 1000000000;
        d += 700000000 + (regular ? 0 : (int64_t)(uniform() * 100000000));
    }
    s->nbins = (int)((true_acq(d) + 1000000000 - T0) / WIDTH);
}

/* Feeds everything in acquisition-time order, as a stream would bring it. */
static void feed(acq_aligner *a, const scenario *s, int with_received)
{
    char err[ACQ_ERR_SIZE];
    float c[UNITS];
    int next_onset = 0, next_extra = 0;
    for (int k = 0; k < s->nbins; k++) {
        int64_t start = T0 + k * WIDTH;
        while (next_onset < s->trials && s->edge[next_onset] < start + WIDTH) {
            int i = next_onset++;
            acq_aligner_add_onset(a, (uint64_t)i, 100 + (uint64_t)i, s->display[i],
                                  with_received ? s->received[i] : 0, err);
            if (!s->drop_edge[i])
                acq_aligner_add_sync(a, s->edge[i], 0, 1, with_received ? s->received[i] + 1000000 : 0);
            acq_aligner_add_sync(a, s->edge[i] + 40000000, 0, 0, 0); /* falling edges ignored */
        }
        while (next_extra < s->nextra && s->extra_edge[next_extra] < start + WIDTH)
            acq_aligner_add_sync(a, s->extra_edge[next_extra++], 0, 1, 0);
        if (k == s->drop_bin || k == s->swap_bin)
            continue;
        for (int u = 0; u < UNITS; u++)
            c[u] = bin_count(k, u);
        acq_aligner_add_bins(a, start, WIDTH, c, UNITS, 0, err);
        if (k == s->swap_bin + 1) { /* the swapped bin arrives after its successor */
            for (int u = 0; u < UNITS; u++)
                c[u] = bin_count(k - 1, u);
            acq_aligner_add_bins(a, start - WIDTH, WIDTH, c, UNITS, 0, err);
        }
        if (k == s->conflict_bin) {
            c[0] += 1;
            acq_aligner_add_bins(a, start, WIDTH, c, UNITS, 0, err);
        }
    }
    acq_aligner_finish(a);
}

/* Brute force: every bin whose centre lies in the window. */
static void expected_sum_over(const scenario *s, int64_t anchor, int64_t window, float *out,
                              int *bins, int *contains_dropped, int *contains_conflict)
{
    int64_t from = anchor + 50000000, to = from + window;
    memset(out, 0, sizeof(float) * UNITS);
    *contains_dropped = *contains_conflict = *bins = 0;
    for (int64_t k = 0; k < s->nbins; k++) {
        int64_t centre = T0 + k * WIDTH + WIDTH / 2;
        if (centre < from || centre >= to)
            continue;
        (*bins)++;
        *contains_dropped |= k == s->drop_bin;
        *contains_conflict |= k == s->conflict_bin;
        for (int u = 0; u < UNITS; u++)
            out[u] += bin_count(k, u);
    }
}

static void expected_sum(const scenario *s, int64_t anchor, float *out, int *contains_dropped,
                         int *contains_conflict)
{
    int bins;
    expected_sum_over(s, anchor, 500000000, out, &bins, contains_dropped, contains_conflict);
}

static acq_aligner *new_aligner_window(int64_t window)
{
    acq_align_config c;
    char err[ACQ_ERR_SIZE];
    acq_aligner *a;
    acq_align_config_default(&c);
    c.sync_line = 0;
    c.window_ns = window;
    return acq_aligner_create(&a, &c, err) ? NULL : a;
}

static acq_aligner *new_aligner(void) { return new_aligner_window(500000000); }

static int collect(acq_aligner *a, acq_trial *t, float (*counts)[UNITS])
{
    int n = 0;
    while (n < MAX_TRIALS && acq_aligner_next_complete_trial(a, &t[n], counts[n]))
        n++;
    return n;
}

static void test_clean(void)
{
    scenario s;
    make(&s, 40, 0);
    acq_aligner *a = new_aligner();
    feed(a, &s, 0);
    acq_trial t[MAX_TRIALS];
    float counts[MAX_TRIALS][UNITS];
    int n = collect(a, t, counts), exact = 0, flagged = 0, ordered = 1;
    for (int i = 0; i < n; i++) {
        float want[UNITS];
        int dropped, conflict;
        expected_sum(&s, s.edge[i], want, &dropped, &conflict);
        exact += !memcmp(want, counts[i], sizeof want) && t[i].sync_edge_ns == s.edge[i] &&
                 t[i].bins == 50;
        flagged += t[i].flags != 0;
        ordered &= t[i].trial == (uint64_t)i && t[i].stimulus_id == 100 + (uint64_t)i;
    }
    CHECK(n == 40 && ordered, "all 40 trials out, in onset order (%d)", n);
    CHECK(exact == 40 && flagged == 0, "every trial: its own edge, 50 bins, exact sums "
          "(%d exact, %d flagged)", exact, flagged);

    /* The fit, against the textbook formula over the same pairs. */
    long double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (int i = 0; i < 40; i++) {
        long double x = s.display[i] - s.display[0], y = s.edge[i] - s.edge[0];
        sx += x, sy += y, sxx += x * x, sxy += x * y;
    }
    long double slope = (40 * sxy - sx * sy) / (40 * sxx - sx * sx);
    long double icpt = (sy - slope * sx) / 40, sse = 0;
    for (int i = 0; i < 40; i++) {
        long double x = s.display[i] - s.display[0], y = s.edge[i] - s.edge[0];
        sse += (y - icpt - slope * x) * (y - icpt - slope * x);
    }
    acq_clock_fit f;
    acq_aligner_clock(a, &f);
    CHECK(f.pairs == 40, "40 pairs fitted");
    CHECK_CLOSE(f.drift, (double)(slope - 1), 1e-9, "drift %.3g ppm vs least squares %.3g ppm",
                f.drift * 1e6, (double)(slope - 1) * 1e6);
    CHECK_CLOSE(f.drift, DRIFT, 2e-6, "drift near the true 50 ppm");
    CHECK_CLOSE(f.offset_ns + (double)(f.acq0 - s.edge[0]), (double)icpt, 1e-6,
                "offset agrees with least squares (ns)");
    CHECK_CLOSE(f.rms_residual_ns, sqrtl(sse / 40), 1e-6, "RMS residual %.0f ns",
                f.rms_residual_ns);
    CHECK(f.rms_residual_ns > 50000 && f.rms_residual_ns < 200000,
          "residual reflects the ±0.2 ms jitter");
    int64_t later = s.display[39] + 1000000000;
    CHECK(llabs(acq_aligner_map(a, later) - true_acq(later)) < 300000,
          "the fit extrapolates a second ahead within 0.3 ms");
    acq_aligner_destroy(a);
}

static void test_faults(void)
{
    scenario s;
    make(&s, 30, 0);
    s.drop_edge[0] = s.drop_edge[5] = 1;
    s.extra_edge[s.nextra++] = s.edge[8] + 2000000;    /* 2 ms after trial 8's: ambiguous */
    s.extra_edge[s.nextra++] = s.edge[12] + 300000000; /* far from any onset */
    s.drop_bin = (s.edge[10] + 200000000 - T0) / WIDTH;
    s.conflict_bin = (s.edge[14] + 300000000 - T0) / WIDTH;
    s.swap_bin = (s.edge[18] + 100000000 - T0) / WIDTH;
    acq_aligner *a = new_aligner();
    feed(a, &s, 0);
    acq_trial t[MAX_TRIALS];
    float counts[MAX_TRIALS][UNITS];
    int n = collect(a, t, counts), wrong_unflagged = 0, expected_flags_missing = 0;
    for (int i = 0; i < n; i++) {
        float want[UNITS];
        int dropped, conflict;
        expected_sum(&s, s.edge[i], want, &dropped, &conflict);
        uint32_t want_flags = (s.drop_edge[i] ? ACQ_TRIAL_NO_SYNC : 0) |
                              (i == 8 ? ACQ_TRIAL_AMBIGUOUS : 0) |
                              (dropped ? ACQ_TRIAL_LOST : 0) |
                              (conflict ? ACQ_TRIAL_DUPLICATE : 0);
        if ((t[i].flags & want_flags) != want_flags)
            expected_flags_missing++;
        if (t[i].flags == 0 && memcmp(want, counts[i], sizeof want))
            wrong_unflagged++;
        if (t[i].flags != want_flags)
            printf("# trial %d flags %u, expected %u\n", i, t[i].flags, want_flags);
    }
    CHECK(n == 30, "no trial lost: %d of 30 out", n);
    CHECK(expected_flags_missing == 0, "every damaged trial carries its flag");
    CHECK(wrong_unflagged == 0, "every unflagged trial is exact");
    CHECK(t[18].flags == 0 && t[0].flags == ACQ_TRIAL_NO_SYNC && t[5].flags == ACQ_TRIAL_NO_SYNC,
          "a reordered bin does no harm; a missing edge flags only its trial");
    CHECK(llabs(t[5].onset_acq_ns - true_acq(s.display[5])) < 1000000,
          "trial 5 placed by the fit within 1 ms of its true onset");
    acq_clock_fit f;
    acq_aligner_clock(a, &f);
    CHECK(f.missing_edges == 2 && f.ambiguous == 1, "2 missing edges, 1 ambiguous (%llu, %llu)",
          (unsigned long long)f.missing_edges, (unsigned long long)f.ambiguous);
    CHECK(f.unmatched_edges == 3 && f.duplicate_bins == 1,
          "the extra edge and both ambiguous ones unmatched, one duplicate bin (%llu)",
          (unsigned long long)f.unmatched_edges);
    acq_aligner_destroy(a);
}

/* A perfectly regular rhythm whose first edge is lost: shifted by one
 * stimulus, the edges match as many onsets; arrival times settle it. */
static void test_regular_first_edge_lost(void)
{
    scenario s;
    make(&s, 20, 1);
    s.drop_edge[0] = 1;
    acq_aligner *a = new_aligner();
    feed(a, &s, 1);
    acq_trial t[MAX_TRIALS];
    float counts[MAX_TRIALS][UNITS];
    int n = collect(a, t, counts), right = 0;
    for (int i = 1; i < n; i++)
        right += t[i].sync_edge_ns == s.edge[i] && t[i].flags == 0;
    CHECK(n == 20 && right == 19, "regular rhythm: trials 1-19 on their own edges (%d)", right);
    CHECK(t[0].flags == ACQ_TRIAL_NO_SYNC, "trial 0 flagged: its edge is missing");
    acq_aligner_destroy(a);
}

/* Onsets as a display at 240 Hz shows them: 8 frames of stimulus, then 4 of
 * gap plus 0..`jitter` frames drawn per trial (timing.isi_jitter_frames), each
 * onset on a frame; the rig's edge ±0.2 ms from where the clock puts it, its
 * message 1 ms after the onset's (a rig answering each onset at once). */
#define FRAME_NS (1e9 / 240)
static void make_frames(scenario *s, int trials, int jitter)
{
    memset(s, 0, sizeof *s);
    s->trials = trials;
    s->drop_bin = s->conflict_bin = s->swap_bin = -1;
    int64_t frame = 0;
    for (int i = 0; i < trials; i++) {
        s->display[i] = D0 + (int64_t)llround((double)frame * FRAME_NS);
        s->edge[i] = true_acq(s->display[i]) + (int64_t)((uniform() - 0.5) * 400000);
        s->received[i] = s->display[i] - D0 + 1000000000;
        frame += 8 + 4 + (int64_t)(uniform() * (jitter + 1));
    }
    s->nbins = (int)((true_acq(s->display[trials - 1]) + 1000000000 - T0) / WIDTH);
}

/* Every trial of `s` on its own edge with the counts of its window, but
 * `lost` (its edge dropped), flagged for it. Returns the trials right. */
static int own_edges(const scenario *s, int lost, const acq_trial *t, float (*counts)[UNITS],
                     int n)
{
    int right = 0;
    for (int i = 0; i < n && i < s->trials; i++) {
        float want[UNITS];
        int dropped, conflict;
        expected_sum(s, s->edge[i], want, &dropped, &conflict);
        if (i == lost)
            right += t[i].trial == (uint64_t)i && t[i].flags == ACQ_TRIAL_NO_SYNC;
        else
            right += t[i].trial == (uint64_t)i && t[i].flags == 0 &&
                     t[i].sync_edge_ns == s->edge[i] && !memcmp(want, counts[i], sizeof want);
    }
    return right;
}

/* Issue 13: the first onset's edge lost (a photodiode pulse the rig did not
 * register) on short trials, whose messages arrive too close together for
 * their arrival times to tell pairings a stimulus apart. With jittered gaps
 * (11 frames, protocols/demo.yaml's) the pairing shifted by one stimulus
 * predicts edges where there are none: every other onset on its own edge,
 * the first flagged; the same with the third's edge lost. */
static void test_jittered_edge_lost(void)
{
    int lost[] = {0, 2};
    for (int k = 0; k < 2; k++)
        for (int run = 0; run < 5; run++) { /* five draws of the gaps */
            scenario s;
            make_frames(&s, 24, 11);
            s.drop_edge[lost[k]] = 1;
            acq_aligner *a = new_aligner();
            feed(a, &s, 1);
            acq_trial t[MAX_TRIALS];
            float counts[MAX_TRIALS][UNITS];
            int n = collect(a, t, counts), right = own_edges(&s, lost[k], t, counts, n);
            CHECK(n == 24 && right == 24,
                  "jittered gaps, edge %d lost (draw %d): trial %d flagged, the others on their "
                  "own edges, counts exact (%d of %d right; trial 1 on %lld, its own %lld)",
                  lost[k], run, lost[k], right, n, n > 1 ? (long long)t[1].sync_edge_ns : -1LL,
                  (long long)s.edge[1]);
            acq_aligner_destroy(a);
        }
}

/* Jittered gaps whose first three draws happen to be alike (0, 0, 0, then
 * 11 frames): with the first edge lost and no arrival times (a rig answering
 * late), the pairing shifted by one stimulus matches onsets 0-2 and misses 3,
 * as the true one matches 1-3 and misses 0: a tie, which the tie rules gave
 * the shifted pairing (it matches the first onset). Told that the gaps are
 * jittered (acq_align_config.jittered_onsets, as inception run sets it), the
 * vote waits for the next onsets, which only the true pairing matches. */
static void test_jittered_tie_waits(void)
{
    static const int draws[23] = {0, 0, 0, 11, 6, 2, 9, 4, 7, 1, 10, 3, 8, 5, 11, 0, 6, 2, 9, 4, 7, 1, 10};
    for (int told = 0; told < 2; told++) {
        scenario s;
        make_frames(&s, 24, 0);
        int64_t frame = 0;
        for (int i = 0; i < 24; i++) {
            s.display[i] = D0 + (int64_t)llround((double)frame * FRAME_NS);
            s.edge[i] = true_acq(s.display[i]);
            frame += 12 + (i < 23 ? draws[i] : 0);
        }
        s.nbins = (int)((true_acq(s.display[23]) + 1000000000 - T0) / WIDTH);
        s.drop_edge[0] = 1;
        acq_align_config c;
        char err[ACQ_ERR_SIZE];
        acq_aligner *a = NULL;
        acq_align_config_default(&c);
        c.sync_line = 0;
        c.jittered_onsets = told;
        CHECK(acq_aligner_create(&a, &c, err) == 0, "aligner: %s", a ? "" : err);
        if (!a)
            return;
        feed(a, &s, 0);
        acq_trial t[MAX_TRIALS];
        float counts[MAX_TRIALS][UNITS];
        int n = collect(a, t, counts), right = own_edges(&s, 0, t, counts, n);
        if (told)
            CHECK(n == 24 && right == 24, "jittered, first three draws alike, told so: every "
                  "trial on its own edge (%d of %d)", right, n);
        else
            CHECK(n == 24 && t[1].sync_edge_ns == s.edge[2],
                  "... not told so: the tie rules pair trial 1 with trial 2's edge (as today)");
        acq_aligner_destroy(a);
    }
}

/* The limitation jitter removes: the same stream with a regular rhythm (no
 * jitter) and the first edge lost. Onset i on edge i + 1 matches all eight
 * voting onsets, the true pairing seven: the shifted one wins, and every
 * trial but the last (no edge after it) carries its successor's edge,
 * unflagged. Asserted as it is today, so that a fix shows up here; the run
 * says so at start (docs/timing.md). With the third edge lost instead the
 * true pairing wins: the shifted one loses an onset too. */
static void test_regular_short_trials_first_edge_lost(void)
{
    scenario s;
    make_frames(&s, 24, 0);
    s.drop_edge[0] = 1;
    acq_aligner *a = new_aligner();
    feed(a, &s, 1);
    acq_trial t[MAX_TRIALS];
    float counts[MAX_TRIALS][UNITS];
    int n = collect(a, t, counts), shifted = 0;
    for (int i = 0; i + 1 < n; i++)
        shifted += t[i].flags == 0 && t[i].sync_edge_ns == s.edge[i + 1];
    CHECK(n == 24 && shifted == 23 && (t[23].flags & ACQ_TRIAL_NO_SYNC),
          "regular rhythm, first edge lost: trials 0-22 on their successors' edges, unflagged "
          "(%d of 23), the last flagged: the limitation docs/timing.md describes", shifted);
    acq_aligner_destroy(a);
    make_frames(&s, 24, 0);
    s.drop_edge[2] = 1;
    a = new_aligner();
    feed(a, &s, 1);
    n = collect(a, t, counts);
    int right = own_edges(&s, 2, t, counts, n);
    CHECK(n == 24 && right == 24, "regular rhythm, third edge lost: all right (%d of %d)",
          right, n);
    acq_aligner_destroy(a);
}

/* The sync edges start ten onsets late (the data stream connected after the
 * display began): the early onsets leave flagged once they are a history
 * old, and the vote locks onto the rest. */
static void test_late_stream(void)
{
    scenario s;
    make(&s, 30, 0);
    for (int i = 0; i < 10; i++)
        s.drop_edge[i] = 1;
    acq_aligner *a = new_aligner();
    feed(a, &s, 1);
    acq_trial t[MAX_TRIALS];
    float counts[MAX_TRIALS][UNITS];
    int n = collect(a, t, counts), early_flagged = 0, late_exact = 0;
    for (int i = 0; i < n; i++) {
        float want[UNITS];
        int dropped, conflict;
        expected_sum(&s, s.edge[i], want, &dropped, &conflict);
        if (i < 10)
            early_flagged += (t[i].flags & ACQ_TRIAL_NO_SYNC) != 0;
        else
            late_exact += t[i].flags == 0 && t[i].sync_edge_ns == s.edge[i] &&
                          !memcmp(want, counts[i], sizeof want);
    }
    CHECK(n == 30 && early_flagged == 10, "the 10 onsets without edges flagged (%d)", early_flagged);
    CHECK(late_exact == 20, "the 20 with edges aligned and exact (%d)", late_exact);
    acq_aligner_destroy(a);
}

/* The run loop held up (a loaded machine): the display showed trials 0-7, 30
 * ms apart, and their onsets reach the aligner together, the rig's edges
 * follow, and the vote comes when edges 0-4 are in. A rhythm shifted back
 * (onsets 1-5 on edges 0-4, or 2-6, 3-7) matches as many, and its arrival
 * gaps are shorter by the burst's microseconds: it must not win. It did,
 * shifting every trial of a resumed session by one (tests/test_resume.sh, in
 * CI and reproduced under load). */
static void test_onsets_in_a_burst(void)
{
    enum { TRIALS = 20, BURST = 8, FIRST_EDGES = 5 };
    const int64_t spacing = 30000000, window = 100000000, arrival = 7000000000LL;
    char err[ACQ_ERR_SIZE];
    scenario s;
    memset(&s, 0, sizeof s);
    s.trials = TRIALS;
    s.drop_bin = s.conflict_bin = s.swap_bin = -1;
    for (int i = 0; i < TRIALS; i++) {
        s.display[i] = D0 + i * spacing;
        s.edge[i] = true_acq(s.display[i]);
        /* in real time from trial 8 on; 0-7 all at trial 7's, 20 us apart */
        s.received[i] = arrival + (i < BURST ? (BURST - 1) * spacing + i * 20000 : i * spacing);
    }
    s.nbins = (int)((s.edge[TRIALS - 1] + 500000000 - T0) / WIDTH);
    acq_aligner *a = new_aligner_window(window);
    acq_trial t[MAX_TRIALS];
    float counts[MAX_TRIALS][UNITS], c[UNITS];
    int n = 0, next = 0;
    for (int k = 0; k < s.nbins; k++) {
        int64_t start = T0 + k * WIDTH;
        if (next == 0 && start > s.edge[BURST - 1]) { /* the burst, then a vote */
            for (int i = 0; i < BURST; i++)
                acq_aligner_add_onset(a, (uint64_t)i, 100 + (uint64_t)i, s.display[i],
                                      s.received[i], err);
            for (int i = 0; i < FIRST_EDGES; i++)
                acq_aligner_add_sync(a, s.edge[i], 0, 1, s.received[i] + 1000000);
            n += collect(a, t + n, counts + n);
            for (int i = FIRST_EDGES; i < BURST; i++)
                acq_aligner_add_sync(a, s.edge[i], 0, 1, s.received[i] + 1000000);
            next = BURST;
        }
        while (next >= BURST && next < TRIALS && s.edge[next] < start + WIDTH) {
            int i = next++;
            acq_aligner_add_onset(a, (uint64_t)i, 100 + (uint64_t)i, s.display[i], s.received[i],
                                  err);
            acq_aligner_add_sync(a, s.edge[i], 0, 1, s.received[i] + 1000000);
        }
        for (int u = 0; u < UNITS; u++)
            c[u] = bin_count(k, u);
        acq_aligner_add_bins(a, start, WIDTH, c, UNITS, 0, err);
        n += collect(a, t + n, counts + n);
    }
    acq_aligner_finish(a);
    n += collect(a, t + n, counts + n);
    /* Onsets 5 and 6 may leave flagged (no sync: the data had passed their
     * edges before the edges came); no trial may leave unflagged and wrong. */
    int wrong = 0, first_right = 0;
    for (int i = 0; i < n; i++) {
        float want[UNITS];
        int bins, dropped, conflict;
        expected_sum_over(&s, s.edge[i], window, want, &bins, &dropped, &conflict);
        int right = t[i].trial == (uint64_t)i && t[i].sync_edge_ns == s.edge[i] &&
                    !memcmp(want, counts[i], sizeof want);
        wrong += t[i].flags == 0 && !right;
        first_right += i < FIRST_EDGES && t[i].flags == 0 && right;
    }
    CHECK(n == TRIALS && wrong == 0 && first_right == FIRST_EDGES,
          "onsets in a burst: trials 0-4 on their own edges (%d), none unflagged and wrong (%d of "
          "%d; trial 0 on edge %lld, its own %lld)", first_right, wrong, n,
          n ? (long long)t[0].sync_edge_ns : -1LL, (long long)s.edge[0]);
    acq_aligner_destroy(a);
}

/* Onsets reach the aligner as they are shown, 30 ms apart, and the rig's
 * edges follow each 40 ms later (a rig slow on a loaded machine), its bins 5
 * ms after their end. When three onsets have met edges, onset 3 is in but
 * its edge is not: onsets 1-3 on edges 0-2 match as many, with arrival gaps
 * of 10 ms against the true 40 ms. The vote must wait for onset 3's edge. */
static void test_rig_answers_late(void)
{
    enum { TRIALS = 20 };
    const int64_t spacing = 30000000, window = 100000000, lag = 40000000;
    char err[ACQ_ERR_SIZE];
    scenario s;
    memset(&s, 0, sizeof s);
    s.trials = TRIALS;
    s.drop_bin = s.conflict_bin = s.swap_bin = -1;
    for (int i = 0; i < TRIALS; i++) {
        s.display[i] = D0 + i * spacing;
        s.edge[i] = true_acq(s.display[i]);
        s.received[i] = 7000000000LL + i * spacing;
    }
    s.nbins = (int)((s.edge[TRIALS - 1] + 500000000 - T0) / WIDTH);
    acq_aligner *a = new_aligner_window(window);
    acq_trial t[MAX_TRIALS];
    float counts[MAX_TRIALS][UNITS], c[UNITS];
    int n = 0, onset = 0, edge = 0;
    for (int k = 0; k < s.nbins; k++) {
        /* the arrival clock: bin k arrives 5 ms after its end */
        int64_t start = T0 + k * WIDTH, arrives = s.received[0] + (start + WIDTH - s.edge[0]) + 5000000;
        while (onset < TRIALS && s.received[onset] <= arrives) {
            acq_aligner_add_onset(a, (uint64_t)onset, 100 + (uint64_t)onset, s.display[onset],
                                  s.received[onset], err);
            onset++;
            n += collect(a, t + n, counts + n);
        }
        while (edge < onset && s.received[edge] + lag <= arrives) {
            acq_aligner_add_sync(a, s.edge[edge], 0, 1, s.received[edge] + lag);
            edge++;
            n += collect(a, t + n, counts + n);
        }
        for (int u = 0; u < UNITS; u++)
            c[u] = bin_count(k, u);
        acq_aligner_add_bins(a, start, WIDTH, c, UNITS, 0, err);
        n += collect(a, t + n, counts + n);
    }
    acq_aligner_finish(a);
    n += collect(a, t + n, counts + n);
    int right = 0;
    for (int i = 0; i < n; i++) {
        float want[UNITS];
        int bins, dropped, conflict;
        expected_sum_over(&s, s.edge[i], window, want, &bins, &dropped, &conflict);
        right += t[i].trial == (uint64_t)i && t[i].flags == 0 && t[i].sync_edge_ns == s.edge[i] &&
                 !memcmp(want, counts[i], sizeof want);
    }
    CHECK(n == TRIALS && right == TRIALS,
          "a rig 40 ms late on 30 ms trials: all %d on their own edges, counts exact (%d of %d; "
          "trial 1 on edge %lld, its own %lld)", TRIALS, right, n,
          n > 1 ? (long long)t[1].sync_edge_ns : -1LL, (long long)s.edge[1]);
    acq_aligner_destroy(a);
}

static void test_restart_and_mismatch(void)
{
    char err[ACQ_ERR_SIZE];
    acq_aligner *a = new_aligner();
    float c[UNITS] = {1, 1, 1, 1, 1};
    for (int i = 0; i < 4; i++) {
        acq_aligner_add_onset(a, (uint64_t)i, 0, D0 + i * 1000000000LL, 0, err);
        acq_aligner_add_sync(a, A0 + i * 1000000000LL, 0, 1, 0);
    }
    int64_t end = A0 + 5000000000LL;
    int mismatch = 0;
    for (int64_t t = T0; t < end; t += WIDTH) {
        /* The publisher restarts at trial 2's window, losing nothing. */
        uint32_t flags = t == A0 + 2200000000LL ? ACQ_ITEM_RESTART : 0;
        acq_aligner_add_bins(a, t, WIDTH, c, UNITS, flags, err);
        if (t == A0 + 3300000000LL)
            mismatch = acq_aligner_add_bins(a, t + WIDTH / 2, WIDTH, c, UNITS, 0, err);
    }
    acq_aligner_finish(a);
    acq_trial t[4];
    float counts[4][UNITS];
    int n = collect(a, t, counts);
    CHECK(n == 4 && t[0].flags == 0 && t[1].flags == 0, "trials before the restart clean");
    CHECK(t[2].flags == ACQ_TRIAL_RESTART && counts[2][0] == 50, "the restart flags trial 2");
    CHECK(mismatch == ACQ_REJECT_MISMATCH && (t[3].flags & ACQ_TRIAL_MISMATCH),
          "an off-grid bin is refused and flags its trial");
    acq_aligner_destroy(a);
}

/* Windows whose start or end falls exactly on a bin centre, and 1 ns (native)
 * or one sample (Open Ephys) either side: a centre on the start is in, a
 * centre on the end is out ([from, to)). Jittered edges almost never land
 * there; whole-sample latencies and windows at 30 kHz do (about 1 trial in
 * 300 with 10 ms bins). Trial i: case i % 6 puts the start (0-2) or the end
 * (3-5) on a centre, shifted by 0, -1, +1. */
#define BOUNDARY_TRIALS 18
#define LATENCY 50000000LL

static int64_t boundary_shift(int i) { return (int64_t[]){0, -1, 1}[i % 3]; }

static void test_native_window_on_bin_centres(int64_t window)
{
    scenario s;
    memset(&s, 0, sizeof s);
    s.trials = BOUNDARY_TRIALS;
    s.drop_bin = s.conflict_bin = s.swap_bin = -1;
    for (int i = 0; i < s.trials; i++) {
        int64_t centre = T0 + (100 + 73 * (int64_t)i) * WIDTH + WIDTH / 2; /* 730 ms apart */
        int64_t from = (i % 6 < 3 ? centre : centre - window) + boundary_shift(i);
        s.edge[i] = from - LATENCY;
        s.display[i] = D0 + (s.edge[i] - s.edge[0]);
    }
    s.nbins = (int)((s.edge[s.trials - 1] + 2000000000 - T0) / WIDTH);
    acq_aligner *a = new_aligner_window(window);
    feed(a, &s, 0);
    acq_trial t[MAX_TRIALS];
    float counts[MAX_TRIALS][UNITS];
    int n = collect(a, t, counts), exact = 0, on_centre_bins = 1;
    for (int i = 0; i < n; i++) {
        float want[UNITS];
        int bins, dropped, conflict;
        expected_sum_over(&s, s.edge[i], window, want, &bins, &dropped, &conflict);
        int ok = t[i].flags == 0 && t[i].sync_edge_ns == s.edge[i] && (int)t[i].bins == bins &&
                 !memcmp(want, counts[i], sizeof want);
        exact += ok;
        if (!ok)
            printf("# trial %d (case %d): %u bins, want %d; flags %u\n", i, i % 6, t[i].bins,
                   bins, t[i].flags);
        /* Start on a centre: that bin and every width after it, ceil(window /
         * width) bins; end on a centre: floor(window / width), that bin out. */
        int64_t closed_form = i % 6 < 3 ? (window + WIDTH - 1) / WIDTH : window / WIDTH;
        if (boundary_shift(i) == 0 && (t[i].bins != closed_form || bins != closed_form))
            on_centre_bins = 0;
    }
    CHECK(n == BOUNDARY_TRIALS && exact == n && on_centre_bins,
          "native, %lld ms window: start or end on a bin centre and 1 ns either side, "
          "every trial's bins and sums exact (%d of %d)", (long long)(window / 1000000), exact, n);
    acq_aligner_destroy(a);
}

/* The same through acq_binner, as the Open Ephys path does it (receiver.c):
 * spikes at sample numbers binned at 30 kHz, sync edges at sample numbers
 * turned into times by acq_binner_time_ns. The oracle works in whole samples
 * (bin k: samples [300k, 300k + 300), centre 300k + 150), apart from the
 * nanosecond arithmetic under test. */
#define OE_RATE 30000
#define OE_BIN 300 /* samples: 10 ms */

typedef struct oe_sink {
    acq_aligner *a;
} oe_sink;

static void oe_to_aligner(void *ctx, int64_t start_ns, uint32_t width_ns, const float *counts,
                          int units)
{
    char err[ACQ_ERR_SIZE];
    acq_aligner_add_bins(((oe_sink *)ctx)->a, start_ns, width_ns, counts, units, 0, err);
}

static void test_openephys_window_on_bin_centres(int64_t window_samples)
{
    const int64_t latency_samples = 1500; /* 50 ms */
    int64_t window_ns = window_samples * 1000000000LL / OE_RATE;
    char err[ACQ_ERR_SIZE];
    acq_binner *b;
    CHECK(window_samples * 1000000000LL % OE_RATE == 0 &&
              !acq_binner_create(&b, UNITS, OE_RATE, 10000000, 2, err),
          "binner at 30 kHz, 10 ms bins, %lld-sample window", (long long)window_samples);
    acq_aligner *a = new_aligner_window(window_ns);
    oe_sink sink = {a};
    int64_t edge[BOUNDARY_TRIALS];
    for (int i = 0; i < BOUNDARY_TRIALS; i++) {
        int64_t centre = (20 + 73 * (int64_t)i) * OE_BIN + OE_BIN / 2;
        edge[i] = (i % 6 < 3 ? centre : centre - window_samples) + boundary_shift(i) -
                  latency_samples;
    }
    int64_t nbins = (edge[BOUNDARY_TRIALS - 1] + 2 * OE_RATE) / OE_BIN, edge0 = -1;
    int next = 0;
    for (int64_t k = 0; k < nbins; k++) {
        while (next < BOUNDARY_TRIALS && edge[next] < (k + 1) * OE_BIN) {
            int64_t t = acq_binner_time_ns(b, edge[next]);
            edge0 = edge0 < 0 ? t : edge0;
            acq_aligner_add_onset(a, (uint64_t)next, 100 + (uint64_t)next, D0 + (t - edge0), 0,
                                  err);
            acq_aligner_add_sync(a, t, 0, 1, 0);
            next++;
        }
        for (int u = 0; u < UNITS; u++)
            for (int j = 0; j < (int)bin_count(k, u); j++)
                acq_binner_add_spike(b, u, k * OE_BIN + 17 + 61 * j, oe_to_aligner, &sink);
    }
    acq_binner_advance(b, nbins * OE_BIN + 10 * OE_BIN, oe_to_aligner, &sink);
    acq_aligner_finish(a);
    acq_trial t[MAX_TRIALS];
    float counts[MAX_TRIALS][UNITS];
    int n = collect(a, t, counts), exact = 0;
    for (int i = 0; i < n; i++) {
        float want[UNITS] = {0};
        int bins = 0;
        int64_t from = edge[i] + latency_samples, to = from + window_samples;
        for (int64_t k = 0; k < nbins; k++) {
            int64_t centre = k * OE_BIN + OE_BIN / 2;
            if (centre < from || centre >= to)
                continue;
            bins++;
            for (int u = 0; u < UNITS; u++)
                want[u] += bin_count(k, u);
        }
        int ok = t[i].flags == 0 && (int)t[i].bins == bins && !memcmp(want, counts[i], sizeof want);
        int64_t closed_form = i % 6 < 3 ? (window_samples + OE_BIN - 1) / OE_BIN
                                        : window_samples / OE_BIN; /* as in the native test */
        ok &= boundary_shift(i) != 0 || bins == closed_form;
        exact += ok;
        if (!ok)
            printf("# trial %d (case %d): %u bins, want %d; flags %u\n", i, i % 6, t[i].bins,
                   bins, t[i].flags);
    }
    CHECK(n == BOUNDARY_TRIALS && exact == n,
          "Open Ephys, %lld-sample window: start or end on a bin centre and one sample "
          "either side, every trial's bins and sums exact (%d of %d)",
          (long long)window_samples, exact, n);
    acq_aligner_destroy(a);
    acq_binner_destroy(b);
}

/* The last bin of a trial's window arrives after its successor (reordered):
 * the trial waits `grace` bins for it and comes out whole. */
static void test_last_bin_late(void)
{
    scenario s;
    make(&s, 10, 0);
    int64_t to = s.edge[4] + 50000000 + 500000000;
    s.swap_bin = (to - T0 - WIDTH / 2 + WIDTH - 1) / WIDTH - 1; /* the last centre before `to` */
    acq_aligner *a = new_aligner();
    feed(a, &s, 0);
    acq_trial t[MAX_TRIALS];
    float counts[MAX_TRIALS][UNITS];
    int n = collect(a, t, counts);
    float want[UNITS];
    int dropped, conflict;
    expected_sum(&s, s.edge[4], want, &dropped, &conflict);
    CHECK(n == 10 && t[4].flags == 0 && t[4].bins == 50 && !memcmp(want, counts[4], sizeof want),
          "the last bin of a window arriving after the next one: the trial is whole and "
          "unflagged (flags %u, %u bins)", n == 10 ? t[4].flags : 0, n == 10 ? t[4].bins : 0);
    acq_aligner_destroy(a);
}

/* Edges exactly on a line (no jitter, no drift), so the fit predicts each
 * onset's edge to the nanosecond: an edge the match tolerance (5 ms) away is
 * matched, one 1 ns further is not. The missed one stays out of the fit, so
 * the prediction for the next is still exact. */
static void test_match_tolerance_boundary(void)
{
    scenario s;
    make(&s, 30, 0);
    for (int i = 0; i < s.trials; i++)
        s.edge[i] = A0 + (s.display[i] - D0);
    s.edge[12] += 5000000 + 1;
    s.edge[18] += 5000000;
    acq_aligner *a = new_aligner();
    feed(a, &s, 0);
    acq_trial t[MAX_TRIALS];
    float counts[MAX_TRIALS][UNITS];
    int n = collect(a, t, counts), others = 0;
    for (int i = 0; i < n; i++)
        others += i != 12 && t[i].flags == 0 && t[i].sync_edge_ns == s.edge[i];
    CHECK(n == 30 && t[12].flags == ACQ_TRIAL_NO_SYNC,
          "an edge 5 ms + 1 ns from its prediction is no match (flags %u)", n == 30 ? t[12].flags : 0);
    CHECK(n == 30 && t[18].flags == 0 && t[18].sync_edge_ns == s.edge[18],
          "an edge exactly 5 ms (the tolerance) from its prediction is matched (flags %u)",
          n == 30 ? t[18].flags : 0);
    CHECK(others == 29, "every other trial on its own edge (%d of 29)", others);
    acq_aligner_destroy(a);
}

/* Items as the receiver hands them over. */
static void add_bin_item(acq_aligner *a, int64_t start, uint32_t flags, int64_t received)
{
    char err[ACQ_ERR_SIZE];
    float c[UNITS] = {1, 1, 1, 1, 1};
    acq_item it = {.type = ACQ_MSG_COUNTS, .flags = flags, .timestamp_ns = start,
                   .bin_width_ns = WIDTH, .received_ns = received, .count = UNITS, .counts = c};
    acq_aligner_add_item(a, &it, err);
}

static void add_loss_item(acq_aligner *a, int64_t from, int64_t until)
{
    char err[ACQ_ERR_SIZE];
    acq_item it = {.type = ACQ_ITEM_LOSS, .timestamp_ns = from, .until_ns = until};
    acq_aligner_add_item(a, &it, err);
}

/* Spans of possible loss (Open Ephys message_num gaps): exactly the trials
 * whose windows overlap one are flagged, whether the span comes before the
 * trial is summed or after, while it waits to be taken. */
static void test_loss_spans(void)
{
    char err[ACQ_ERR_SIZE];
    acq_aligner *a = new_aligner();
    for (int i = 0; i < 5; i++) {
        acq_aligner_add_onset(a, (uint64_t)i, 0, D0 + i * 1000000000LL, 0, err);
        acq_aligner_add_sync(a, A0 + i * 1000000000LL, 0, 1, 0);
    }
    /* Windows: [edge + 50 ms, edge + 550 ms). */
    for (int64_t t = T0; t < A0 + 6000000000LL; t += WIDTH) {
        add_bin_item(a, t, 0, 0);
        if (t == A0 + 1000000000LL) /* inside trial 2's window, before it is summed */
            add_loss_item(a, A0 + 2300000000LL, A0 + 2310000000LL);
        if (t == A0 + 3800000000LL) /* trial 3 summed, not yet taken: its last bin */
            add_loss_item(a, A0 + 3540000000LL, A0 + 3545000000LL);
    }
    add_loss_item(a, A0 + 4560000000LL, A0 + 4600000000LL); /* between windows: nobody's */
    /* Spans are half-open, [from, until), like the windows: one that ends
     * where trial 4's window starts, one that starts where trial 1's ends. */
    add_loss_item(a, A0 + 4000000000LL, A0 + 4050000000LL);
    add_loss_item(a, A0 + 1550000000LL, A0 + 1600000000LL);
    acq_aligner_finish(a);
    acq_trial t[5];
    float counts[5][UNITS];
    int n = collect(a, t, counts);
    CHECK(n == 5 && t[0].flags == 0 && t[1].flags == 0 && t[4].flags == 0 &&
              counts[0][0] == 50 && counts[4][4] == 50,
          "trials no span overlaps are clean (one touching a window's start or end does not), "
          "50 bins summed");
    CHECK(n == 5 && t[2].flags == ACQ_TRIAL_LOST && t[3].flags == ACQ_TRIAL_LOST,
          "a span inside a window flags it, also after the trial was summed");
    acq_aligner_destroy(a);
}

/* A GUI stop and start: the acquisition clock begins again at 0 (sample
 * numbers reset). Trials the stop cut are flagged, one shown while stopped
 * too, and the clock is fitted anew from the following edges. */
static void test_clock_reset(void)
{
    char err[ACQ_ERR_SIZE];
    acq_aligner *a = new_aligner();
    const int64_t S = 1000000000LL, R0 = 1000000000LL; /* R0: arrival of onset 0 */
    /* The old clock: onsets 0..2, data until 2.3 s after onset 0's edge. */
    for (int i = 0; i < 3; i++) {
        acq_aligner_add_onset(a, (uint64_t)i, 0, D0 + i * S, R0 + i * S, err);
        acq_aligner_add_sync(a, A0 + i * S, 0, 1, R0 + i * S + 1000000);
    }
    for (int64_t t = T0; t < A0 + 2300000000LL; t += WIDTH)
        add_bin_item(a, t, 0, 0);
    acq_aligner_add_onset(a, 3, 0, D0 + 3 * S, R0 + 3 * S, err); /* while stopped */
    /* The new clock: acquisition 0 at display D0 + 3.5 s, first message at R0 + 3.5 s. */
    int64_t b0 = D0 + 3 * S + S / 2;
    add_bin_item(a, 0, ACQ_ITEM_CLOCK_RESET | ACQ_ITEM_RESTART, R0 + 3 * S + S / 2);
    int next = 4;
    for (int64_t t = WIDTH; t < 7 * S; t += WIDTH) {
        while (next < 10 && D0 + next * S - b0 < t + WIDTH) {
            acq_aligner_add_onset(a, (uint64_t)next, 0, D0 + next * S, R0 + next * S, err);
            acq_aligner_add_sync(a, D0 + next * S - b0, 0, 1, R0 + next * S + 1000000);
            next++;
        }
        add_bin_item(a, t, 0, 0);
    }
    acq_aligner_finish(a);
    acq_trial t[10];
    float counts[10][UNITS];
    int n = collect(a, t, counts), after = 1;
    for (int i = 4; i < n; i++)
        after &= t[i].flags == 0 && counts[i][0] == 50 && t[i].sync_edge_ns == D0 + i * S - b0;
    CHECK(n == 10 && t[0].flags == 0 && t[1].flags == 0 && counts[1][2] == 50,
          "trials the old clock completed are clean");
    CHECK(n == 10 && t[2].flags == (ACQ_TRIAL_RESTART | ACQ_TRIAL_LOST) &&
              t[3].flags == (ACQ_TRIAL_RESTART | ACQ_TRIAL_NO_SYNC),
          "the trial the stop cut and the one shown while stopped are flagged (%u, %u)",
          n == 10 ? t[2].flags : 0, n == 10 ? t[3].flags : 0);
    CHECK(n == 10 && after, "after the start: every trial on its own edge of the new clock, clean");
    acq_clock_fit f;
    acq_aligner_clock(a, &f);
    CHECK(f.clock_restarts == 1 && f.pairs == 6 && fabs(f.drift) < 1e-9,
          "the fit began anew: %d pairs, drift %.3g", f.pairs, f.drift);
    acq_aligner_destroy(a);
}

/* After a GUI stop and start, an onset shown just before the new clock's
 * first message (no edge of its own) heads the vote, and one edge reaches
 * the aligner before its onset (acquire takes the onset and data streams
 * from two receiving threads): the vote may pair only edges that came by
 * the latest onset, or the pairing shifted by one stimulus (each onset with
 * the next one's edge) wins it. Trials 60 ms apart, as in
 * tests/test_run_external.sh, where this put trial 62 on trial 63's edge. */
static void test_restart_edge_before_onset(void)
{
    char err[ACQ_ERR_SIZE];
    acq_aligner *a = new_aligner();
    const int64_t S = 1000000000LL, R0 = 1000000000LL, P = 60000000LL, MS = 1000000LL;
    for (int i = 0; i < 3; i++) { /* the old clock, as in test_clock_reset */
        acq_aligner_add_onset(a, (uint64_t)i, 0, D0 + i * S, R0 + i * S, err);
        acq_aligner_add_sync(a, A0 + i * S, 0, 1, R0 + i * S + MS);
    }
    for (int64_t t = T0; t < A0 + 2300000000LL; t += WIDTH)
        add_bin_item(a, t, 0, 0);
    /* The new clock's 0 is display time b0; onset k (3..19) is shown at
     * b0 + 40 ms + (k - 3) P and reaches us 1 ms later, its edge 2 ms after. */
    int64_t b0 = D0 + 3 * S + S / 2;
#define SHOWN(k) (b0 + 40 * MS + ((k) - 3) * P)
#define ARRIVES(d) ((d) - D0 + R0 + MS)
    acq_aligner_add_onset(a, 3, 0, SHOWN(3), ARRIVES(SHOWN(3)), err); /* no edge */
    add_bin_item(a, 0, ACQ_ITEM_CLOCK_RESET | ACQ_ITEM_RESTART, ARRIVES(b0 + 50 * MS));
    int next = 4;
    for (int64_t t = WIDTH; t < 3 * S; t += WIDTH) {
        int bin_added = 0;
        while (next < 20 && SHOWN(next) - b0 < t + WIDTH) {
            int64_t d = SHOWN(next);
            if (next != 6)
                acq_aligner_add_onset(a, (uint64_t)next, 0, d, ARRIVES(d), err);
            acq_aligner_add_sync(a, d - b0, 0, 1, ARRIVES(d) + 2 * MS);
            if (next == 6) { /* its edge first, the data going on, then the onset */
                add_bin_item(a, t, 0, ARRIVES(d) + 2 * MS);
                bin_added = 1;
                acq_aligner_add_onset(a, 6, 0, d, ARRIVES(d), err);
            }
            next++;
        }
        if (!bin_added)
            add_bin_item(a, t, 0, ARRIVES(b0 + t));
    }
    acq_aligner_finish(a);
    acq_trial t[20];
    float counts[20][UNITS];
    int n = collect(a, t, counts), own = 0;
    for (int k = 4; k < n; k++)
        own += t[k].flags == 0 && t[k].sync_edge_ns == SHOWN(k) - b0;
#undef SHOWN
#undef ARRIVES
    CHECK(n == 20 && own == 16, "after the start every trial on its own edge (%d of 16)", own);
    CHECK(n == 20 && t[3].flags == (ACQ_TRIAL_NO_SYNC | ACQ_TRIAL_RESTART) && t[3].sync_edge_ns == 0,
          "the onset shown just before the start has no edge: flagged 4 + 16 (flags %u, edge %lld)",
          n == 20 ? t[3].flags : 0, n == 20 ? (long long)t[3].sync_edge_ns : 0);
    acq_aligner_destroy(a);
}

/* After a GUI stop and start, with the acquisition side answering each
 * onset 30 ms late (half the 60 ms period: edges of the old clock 30 ms,
 * of the new one 31 ms after their onsets reach us) and an onset shown
 * while acquisition was stopped at the head of the vote: the pairing each
 * onset with the edge before it is 29 ms apart, the true one 31 ms, and
 * they tie on votes while the latest onset's edge is on its way. The lag
 * the old clock's pairs showed tells them apart. Items come in the order
 * they arrive, as a stream brings them. */
static void test_restart_slow_answer(void)
{
    char err[ACQ_ERR_SIZE];
    acq_aligner *a = new_aligner();
    const int64_t MS = 1000000LL, P = 60 * MS;
    /* The old clock: onsets 0..9 every 60 ms, each edge 30 ms after its onset arrives. */
    for (int i = 0; i < 10; i++) {
        acq_aligner_add_onset(a, (uint64_t)i, 0, D0 + i * P, D0 + i * P, err);
        acq_aligner_add_sync(a, A0 + i * P, 0, 1, D0 + i * P + 30 * MS);
    }
    for (int64_t t = T0; t < A0 + 10 * P + 700 * MS; t += WIDTH)
        add_bin_item(a, t, 0, 0);
    /* Onset 10 shown while stopped (no edge); the new clock's 0 at display b0,
     * its first message 10 ms after onset 10; onsets 11..29 every 60 ms. */
    int64_t b0 = D0 + 10 * P + 2000 * MS, s10 = b0 + 50 * MS;
#define SHOWN(k) (s10 + ((k) - 10) * P)
    acq_aligner_add_onset(a, 10, 0, SHOWN(10), SHOWN(10), err);
    add_bin_item(a, 0, ACQ_ITEM_CLOCK_RESET | ACQ_ITEM_RESTART, SHOWN(10) + 10 * MS);
    int next_onset = 11, next_edge = 11;
    int64_t next_bin = WIDTH;
    for (int64_t now = SHOWN(10) + 11 * MS; now < SHOWN(30) + 800 * MS; now += MS) {
        if (next_onset < 30 && SHOWN(next_onset) <= now) {
            acq_aligner_add_onset(a, (uint64_t)next_onset, 0, SHOWN(next_onset), now, err);
            next_onset++;
        }
        if (next_edge < 30 && SHOWN(next_edge) + 31 * MS <= now) {
            acq_aligner_add_sync(a, SHOWN(next_edge) - b0, 0, 1, now);
            next_edge++;
        }
        /* a bin arrives 20 ms after it ends */
        if (b0 + next_bin + WIDTH + 20 * MS <= now) {
            add_bin_item(a, next_bin, 0, now);
            next_bin += WIDTH;
        }
    }
    acq_aligner_finish(a);
    acq_trial t[30];
    float counts[30][UNITS];
    int n = collect(a, t, counts), own = 0;
    for (int k = 11; k < n; k++)
        own += t[k].flags == 0 && t[k].sync_edge_ns == SHOWN(k) - b0;
#undef SHOWN
    CHECK(n == 30 && own == 19, "answered half a period late, every trial after the start on "
          "its own edge (%d of 19)", own);
    CHECK(n == 30 && t[10].sync_edge_ns == 0 && (t[10].flags & ACQ_TRIAL_NO_SYNC),
          "the onset shown while stopped has no edge (flags %u)", n == 30 ? t[10].flags : 0);
    acq_aligner_destroy(a);
}

/* A span of possible loss inside a bin the trial summed but outside its
 * window (the bin's centre in the window, its start before it: edges 3 ms
 * past the bin grid) flags it, before it is summed and after; one in the
 * bin before, not summed, does not. (Its last bin, [540, 550) ms after the
 * edge, ends inside the window, which ends the span.) */
static void test_loss_in_edge_bin(void)
{
    char err[ACQ_ERR_SIZE];
    acq_aligner *a = new_aligner();
    const int64_t S = 1000000000LL, MS = 1000000LL;
    for (int i = 0; i < 4; i++) {
        acq_aligner_add_onset(a, (uint64_t)i, 0, D0 + i * S, 0, err);
        acq_aligner_add_sync(a, A0 + 3 * MS + i * S, 0, 1, 0);
    }
    /* Windows [edge + 50 ms, edge + 550 ms): trial i's first bin starts at
     * A0 + i s + 50 ms, 3 ms before its window. */
    for (int64_t t = T0; t < A0 + 5 * S; t += WIDTH) {
        add_bin_item(a, t, 0, 0);
        if (t == A0 + 500 * MS) /* before trial 1 is summed: in its first bin */
            add_loss_item(a, A0 + S + 51 * MS, A0 + S + 52 * MS);
        if (t == A0 + 3 * S) /* trial 2 summed, not yet taken: in its first bin */
            add_loss_item(a, A0 + 2 * S + 51 * MS, A0 + 2 * S + 52 * MS);
    }
    add_loss_item(a, A0 + 3 * S + 49 * MS, A0 + 3 * S + 50 * MS); /* the bin before trial 3's */
    acq_aligner_finish(a);
    acq_trial t[4];
    float counts[4][UNITS];
    int n = collect(a, t, counts);
    CHECK(n == 4 && t[1].flags == ACQ_TRIAL_LOST && t[2].flags == ACQ_TRIAL_LOST,
          "a span in a summed bin outside the window flags the trial (%u, %u)",
          n == 4 ? t[1].flags : 0, n == 4 ? t[2].flags : 0);
    CHECK(n == 4 && t[0].flags == 0 && t[3].flags == 0 &&
              t[3].counted_from_ns == A0 + 3 * S + 50 * MS &&
              t[3].counted_to_ns == A0 + 3 * S + 553 * MS,
          "one in a bin not summed does not; the counted span: the bins' start, the window's "
          "end (%u, %u)",
          n == 4 ? t[0].flags : 0, n == 4 ? t[3].flags : 0);
    acq_aligner_destroy(a);
}

int main(void)
{
    test_clean();
    test_faults();
    test_regular_first_edge_lost();
    test_late_stream();
    test_onsets_in_a_burst();
    test_rig_answers_late();
    test_restart_and_mismatch();
    test_last_bin_late();
    test_match_tolerance_boundary();
    test_native_window_on_bin_centres(500000000); /* start and end on centres together */
    test_native_window_on_bin_centres(495000000); /* one end on a centre, the other on an edge */
    test_openephys_window_on_bin_centres(15000);  /* 500 ms */
    test_openephys_window_on_bin_centres(14850);  /* 495 ms */
    test_loss_spans();
    test_loss_in_edge_bin();
    test_clock_reset();
    test_restart_edge_before_onset();
    test_restart_slow_answer();
    /* Last: their draws from the shared generator leave the others' as they were. */
    test_jittered_edge_lost();
    test_regular_short_trials_first_edge_lost();
    test_jittered_tie_waits();
    return test_done();
}
