/* bench_vote.c: how often the aligner's first-offset vote locks onto a
 * pairing shifted by one stimulus when the rig lost the first onset's sync
 * edge, by ISI jitter (docs/timing.md's table). Each session: 24 onsets on
 * the frames of a display at HZ, BASE frames apart plus 0..J drawn per trial;
 * the rig's edges ±0.2 ms from where its clock (offset, 50 ppm drift) puts
 * them, the first one dropped; 10 ms bins. "timed": each edge's message
 * arrives 1 ms after its onset's (a rig answering at once); "untimed": no
 * arrival times (a rig answering late, where they cannot help). A session
 * counts as shifted when any trial but the first is on another edge than its
 * own, or a trial is missing.
 *
 * Usage: bench_vote [HZ BASE JITTERS RUNS]   (defaults 240 12 0,5,8,11,23 20000)
 * `meson compile -C build bench-vote`. */
#include "acquisition.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRIALS 24
#define UNITS 2
#define WIDTH 10000000LL

static uint64_t lcg = 99;
static double uniform(void)
{
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(lcg >> 11) / 9007199254740992.0;
}

/* One session; returns 1 when it was aligned wrong. */
static int shifted_session(double hz, int base, int jitter, int timed)
{
    const int64_t D0 = 1000000000000LL, A0 = 3000000000LL, T0 = 2500000000LL;
    int64_t display[TRIALS], edge[TRIALS], received[TRIALS], frame = 0;
    for (int i = 0; i < TRIALS; i++) {
        display[i] = D0 + (int64_t)llround((double)frame * 1e9 / hz);
        edge[i] = A0 + (int64_t)llround((double)(display[i] - D0) * (1 + 50e-6)) +
                  (int64_t)((uniform() - 0.5) * 400000);
        received[i] = timed ? display[i] - D0 + 1000000000 : 0;
        frame += base + (int64_t)(uniform() * (jitter + 1));
    }
    acq_align_config c;
    acq_align_config_default(&c);
    c.latency_ns = 20000000;
    c.window_ns = 25000000;
    c.jittered_onsets = jitter > 0; /* as inception run sets it from the protocol */
    acq_aligner *a;
    char err[ACQ_ERR_SIZE];
    if (acq_aligner_create(&a, &c, err)) {
        fprintf(stderr, "bench_vote: %s\n", err);
        exit(1);
    }
    int nbins = (int)((edge[TRIALS - 1] + 1000000000 - T0) / WIDTH), next = 0;
    float counts[UNITS] = {1, 2};
    for (int k = 0; k < nbins; k++) {
        int64_t start = T0 + k * WIDTH;
        for (; next < TRIALS && edge[next] < start + WIDTH; next++) {
            acq_aligner_add_onset(a, (uint64_t)next, 0, display[next], received[next], err);
            if (next > 0) /* the first edge lost */
                acq_aligner_add_sync(a, edge[next], 0, 1, timed ? received[next] + 1000000 : 0);
        }
        acq_aligner_add_bins(a, start, WIDTH, counts, UNITS, 0, err);
    }
    acq_aligner_finish(a);
    acq_trial t;
    float out[UNITS];
    int wrong = 0, n = 0;
    while (acq_aligner_next_complete_trial(a, &t, out)) {
        wrong |= t.trial > 0 && t.trial < TRIALS && t.sync_edge_ns != edge[t.trial];
        n++;
    }
    acq_aligner_destroy(a);
    return wrong || n != TRIALS;
}

int main(int argc, char **argv)
{
    double hz = argc > 1 ? atof(argv[1]) : 240;
    int base = argc > 2 ? atoi(argv[2]) : 12;
    char jitters[256];
    snprintf(jitters, sizeof jitters, "%s", argc > 3 ? argv[3] : "0,5,8,11,23");
    int runs = argc > 4 ? atoi(argv[4]) : 20000;
    if (!(hz > 0) || base < 1 || runs < 1) {
        fprintf(stderr, "usage: bench_vote [HZ BASE JITTERS RUNS]\n");
        return 2;
    }
    printf("first sync edge lost; %d sessions of %d trials at %g Hz, %d frames + 0..J\n", runs,
           TRIALS, hz, base);
    for (char *j = strtok(jitters, ","); j; j = strtok(NULL, ",")) {
        int jitter = atoi(j), shifted[2] = {0, 0};
        for (int timed = 0; timed < 2; timed++)
            for (int r = 0; r < runs; r++)
                shifted[timed] += shifted_session(hz, base, jitter, timed);
        printf("J = %2d frames: shifted sessions timed %d, untimed %d\n", jitter, shifted[1],
               shifted[0]);
    }
    return 0;
}
