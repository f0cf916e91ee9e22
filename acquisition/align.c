/* align.c: stimulus onsets (display clock) ↔ sync edges (acquisition clock),
 * and per-trial sums of the counts over each response window.
 *
 * The clocks: every onset makes one sync edge on the acquisition side. The
 * first offset comes from a vote: each (onset, edge) pair among the first
 * onsets proposes an offset, and the one under which most onsets find an edge
 * within the tolerance wins (ties: the earliest onset matched, then the
 * pairing whose messages arrived closest together). From then on, each onset
 * is matched to the edge nearest its predicted time, and every match refines
 * a least-squares line acq = a + b · display (Welford's running moments, so
 * hours of nanoseconds lose no precision). Missing edges, extra edges and
 * ambiguous ones are counted; the trials they concern are flagged.
 *
 * The counts: bins (one per message) sit in a ring indexed by bin number on
 * the grid set by the first bin. A trial sums the bins whose centre lies in
 * [anchor + latency, anchor + latency + window), once `grace` bins past its
 * window have arrived; a bin missing by then is lost and the trial flagged. */
#include "acquisition.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EDGES 1024
#define MAX_PENDING 100000
#define VOTE_ONSETS 8
#define VOTE_EDGES 32
#define MAX_SUSPECT 1024
/* Times beyond ±2^60 ns (36 years) are refused, so that no sum or difference
 * of a few times can overflow whatever a stream sends. */
#define TIME_LIMIT ((int64_t)1 << 60)
#define MAX_SLOTS (1 << 18)
/* After a clock restart, an onset that reached us this long before the new
 * clock's first message was shown while acquisition was stopped: the first
 * message of a started acquisition follows within a block or two (tens of
 * milliseconds). */
#define RESTART_MARGIN_NS 100000000
#define MAX_RING_BYTES ((size_t)1 << 30)

enum { SLOT_EMPTY = 0, SLOT_VALID, SLOT_CONFLICT };

typedef struct bin_slot {
    int64_t index;
    int state;
} bin_slot;

typedef struct edge {
    int64_t t, received;
    int matched;
} edge;

typedef struct pending_trial {
    acq_trial t;
    int64_t received;
    int decided;   /* its anchor is known */
    int complete;
    float *counts; /* once complete */
} pending_trial;

/* A stretch of acquisition time that bad data touched (a restart, bins of
 * the wrong shape): trials whose windows overlap it are flagged. */
typedef struct suspect {
    int64_t from, to;
    uint32_t flag;
} suspect;

typedef struct fit_state {
    int n;
    int64_t d0, a0;
    double mean_x, mean_y, cxx, cxy, cyy;
    double max_residual;
} fit_state;

struct acq_aligner {
    acq_align_config c;
    int units;
    /* bins */
    int have_grid;
    int64_t t0;
    uint32_t width;
    int capacity;
    bin_slot *slots;
    float *bins;          /* capacity × units */
    int64_t max_index;    /* highest bin number received */
    int64_t now;          /* latest acquisition time seen (bin ends, edges) */
    int64_t last_bin_end;
    /* edges and onsets */
    edge edges[MAX_EDGES];
    int nedges;
    pending_trial *pending;
    int head, npending;
    size_t cap_pending;
    int offset_known;
    int vote_due;  /* an onset or edge arrived since the last vote */
    int vote_waiting; /* a pairing won, but its evidence was not all in: vote again */
    uint32_t item_flags; /* restart/overflow seen on a non-bin item, for the next bin */
    int64_t latest_received; /* the latest arrival time of an onset or edge */
    int64_t restart_received; /* arrival of the restarted clock's first message; 0 none */
    double lag_sum;  /* over matched pairs with both arrival times: edge's minus onset's */
    int lag_n;
    int finishing;
    fit_state fit;
    suspect suspects[MAX_SUSPECT];
    int nsuspects;
    acq_clock_fit stats;
};

void acq_align_config_default(acq_align_config *c)
{
    memset(c, 0, sizeof *c);
    c->latency_ns = 50000000;
    c->window_ns = 500000000;
    c->match_tolerance_ns = ACQ_MATCH_TOLERANCE_NS;
    c->sync_line = -1;
    c->grace_bins = 3;
    c->history_ns = 4000000000;
    c->min_initial_matches = 3;
    c->max_arrival_gap_ns = 500000000;
}

int acq_aligner_create(acq_aligner **out, const acq_align_config *c, char *err)
{
    *out = NULL;
    if (c->units < 0 || c->units > ACQ_MAX_UNITS || c->latency_ns < 0 || c->window_ns <= 0 ||
        c->match_tolerance_ns <= 0 || c->grace_bins < 0 || c->history_ns <= c->window_ns ||
        c->min_initial_matches < 1 || c->max_arrival_gap_ns < 0)
        return acq_fail(err, "aligner: units 0..65536, latency >= 0, window > 0, "
                             "tolerance > 0, history > window");
    acq_aligner *a = calloc(1, sizeof *a);
    if (!a)
        return acq_fail(err, "aligner: out of memory");
    a->c = *c;
    a->units = c->units;
    *out = a;
    return 0;
}

void acq_aligner_destroy(acq_aligner *a)
{
    if (!a)
        return;
    for (int i = 0; i < a->npending; i++)
        free(a->pending[a->head + i].counts);
    free(a->pending);
    free(a->slots);
    free(a->bins);
    free(a);
}

int acq_aligner_units(const acq_aligner *a) { return a->units; }

/* ------------------------------------------------------------------------ */
/* The clock fit. */

static int out_of_range(int64_t t) { return t > TIME_LIMIT || t < -TIME_LIMIT; }

static void fit_add(fit_state *f, int64_t d, int64_t acq)
{
    if (f->n == 0) {
        f->d0 = d;
        f->a0 = acq;
    }
    double x = (double)(d - f->d0), y = (double)(acq - f->a0);
    f->n++;
    double dx = x - f->mean_x, dy = y - f->mean_y;
    f->mean_x += dx / f->n;
    f->mean_y += dy / f->n;
    f->cxx += dx * (x - f->mean_x);
    f->cxy += dx * (y - f->mean_y);
    f->cyy += dy * (y - f->mean_y);
}

static double fit_slope(const fit_state *f)
{
    return f->n >= 2 && f->cxx > 0 ? f->cxy / f->cxx : 1.0;
}

static int64_t fit_map(const fit_state *f, int64_t d)
{
    if (f->n == 0)
        return d;
    double x = (double)(d - f->d0);
    double y = (double)f->a0 + f->mean_y + fit_slope(f) * (x - f->mean_x);
    /* A wild fit (bad pairs) must still give a time that sums safely. */
    return y > (double)TIME_LIMIT ? TIME_LIMIT : y < -(double)TIME_LIMIT ? -TIME_LIMIT
                                                                          : (int64_t)llround(y);
}

int64_t acq_aligner_map(const acq_aligner *a, int64_t display_ns)
{
    return fit_map(&a->fit, display_ns);
}

void acq_aligner_clock(const acq_aligner *a, acq_clock_fit *out)
{
    const fit_state *f = &a->fit;
    *out = a->stats;
    out->pairs = f->n;
    out->display0 = f->d0;
    out->acq0 = f->a0;
    double b = fit_slope(f);
    out->drift = b - 1.0;
    out->offset_ns = f->mean_y - b * f->mean_x;
    double sse = f->n >= 2 && f->cxx > 0 ? f->cyy - f->cxy * f->cxy / f->cxx : f->cyy;
    out->rms_residual_ns = f->n ? sqrt(fmax(sse, 0) / f->n) : 0;
    out->max_residual_ns = f->max_residual;
    for (int i = 0; i < a->nedges; i++)
        out->unmatched_edges += !a->edges[i].matched;
}

/* ------------------------------------------------------------------------ */
/* Edges. */

static void drop_oldest_edge(acq_aligner *a)
{
    if (!a->edges[0].matched)
        a->stats.unmatched_edges++;
    memmove(a->edges, a->edges + 1, sizeof(edge) * (size_t)(a->nedges - 1));
    a->nedges--;
}

void acq_aligner_add_sync(acq_aligner *a, int64_t t_acq_ns, int line, int rising,
                          int64_t received_ns)
{
    if (!rising || (a->c.sync_line >= 0 && line != a->c.sync_line) ||
        out_of_range(t_acq_ns))
        return;
    if (a->nedges == MAX_EDGES)
        drop_oldest_edge(a);
    /* Kept in time order: a reordered edge slides back into place. */
    int i = a->nedges;
    while (i > 0 && a->edges[i - 1].t > t_acq_ns) {
        a->edges[i] = a->edges[i - 1];
        i--;
    }
    a->edges[i] = (edge){t_acq_ns, received_ns, 0};
    a->nedges++;
    a->vote_due = 1;
    if (received_ns > a->latest_received)
        a->latest_received = received_ns;
    if (t_acq_ns > a->now)
        a->now = t_acq_ns;
}

/* Edges older than the history cannot be any pending onset's. */
static void forget_old_edges(acq_aligner *a)
{
    while (a->nedges > 0 && a->edges[0].t < a->now - a->c.history_ns)
        drop_oldest_edge(a);
}

/* The unmatched edges within the tolerance of `t`: how many, and the nearest. */
static int edges_near(const acq_aligner *a, int64_t t, int *nearest)
{
    int found = 0;
    int64_t best = INT64_MAX;
    for (int i = 0; i < a->nedges; i++) {
        int64_t d = llabs(a->edges[i].t - t);
        if (a->edges[i].matched || d > a->c.match_tolerance_ns)
            continue;
        found++;
        if (d < best) {
            best = d;
            *nearest = i;
        }
    }
    return found;
}

/* ------------------------------------------------------------------------ */
/* Onsets. */

static pending_trial *pending_at(acq_aligner *a, int i) { return &a->pending[a->head + i]; }

int acq_aligner_add_onset(acq_aligner *a, uint64_t trial, uint64_t stimulus_id,
                          int64_t onset_display_ns, int64_t received_ns, char *err)
{
    if (out_of_range(onset_display_ns))
        return acq_fail(err, "aligner: onset time %lld ns out of range",
                        (long long)onset_display_ns);
    if (a->npending == MAX_PENDING)
        return acq_fail(err, "aligner: %d onsets pending and no data completes them",
                        MAX_PENDING);
    if ((size_t)(a->head + a->npending) == a->cap_pending) {
        /* Slide the live part to the front first; grow only when it is full. */
        if (a->head > 0) {
            memmove(a->pending, a->pending + a->head, sizeof(pending_trial) * (size_t)a->npending);
            a->head = 0;
        }
        if (grow_array(&a->pending, &a->cap_pending, (size_t)a->npending + 1, sizeof *a->pending,
                     64))
            return acq_fail(err, "aligner: out of memory");
    }
    pending_trial *p = &a->pending[a->head + a->npending++];
    memset(p, 0, sizeof *p);
    p->t.trial = trial;
    p->t.stimulus_id = stimulus_id;
    p->t.onset_display_ns = onset_display_ns;
    p->t.onset_received_ns = received_ns;
    p->received = received_ns;
    a->vote_due = 1;
    if (received_ns > a->latest_received)
        a->latest_received = received_ns;
    return 0;
}

static void anchor_on_edge(acq_aligner *a, pending_trial *p, int e)
{
    int64_t predicted = fit_map(&a->fit, p->t.onset_display_ns);
    if (a->fit.n > 0 && fabs((double)(a->edges[e].t - predicted)) > a->fit.max_residual)
        a->fit.max_residual = fabs((double)(a->edges[e].t - predicted));
    a->edges[e].matched = 1;
    if (p->received && a->edges[e].received) {
        a->lag_sum += (double)(a->edges[e].received - p->received);
        a->lag_n++;
    }
    fit_add(&a->fit, p->t.onset_display_ns, a->edges[e].t);
    p->t.sync_edge_ns = a->edges[e].t;
    p->t.onset_acq_ns = a->edges[e].t;
    p->decided = 1;
}

/* The vote for the first offset (see the top of the file). Returns 1 when
 * enough of the first onsets agree. */
typedef struct vote {
    int score, first_matched, timed; /* timed: pairs with both arrival times known */
    double arrival_gap;              /* summed over the timed pairs (expected_lag) */
    int64_t offset;
    /* Unmatched onsets whose edge, under this offset, the data has passed
     * (missed), or not yet (pending: its edge may be on its way). */
    int missed, pending;
} vote;

/* How long after its onset an edge reaches us: the mean over the pairs
 * matched so far (the acquisition side's answer takes as long on a
 * restarted clock as before), 0 before any. A pair's arrival gap is its
 * distance from this, signed lags compared: a pairing shifted by a
 * stimulus is a whole period off it, one way or the other, even when the
 * answer takes half a period (then its unsigned gap ties with the true
 * pairing's: seen under load, every trial of a restarted clock one off). */
static double expected_lag(const acq_aligner *a)
{
    return a->lag_n ? a->lag_sum / a->lag_n : 0;
}

static int arrived_together(const acq_aligner *a, const pending_trial *p, int e)
{
    int64_t limit = a->c.max_arrival_gap_ns;
    return !limit || !p->received || !a->edges[e].received ||
           llabs(p->received - a->edges[e].received) <= limit;
}

static vote score_offset(const acq_aligner *a, int64_t offset, int first, int nonsets)
{
    vote v = {.offset = offset};
    double lag = expected_lag(a);
    int64_t wait = a->c.match_tolerance_ns + (int64_t)a->c.grace_bins * a->width;
    for (int i = first; i < first + nonsets; i++) {
        const pending_trial *p = &a->pending[a->head + i];
        int64_t predicted = p->t.onset_display_ns + offset;
        int e = -1;
        if (p->decided)
            continue;
        if (!edges_near(a, predicted, &e) || !arrived_together(a, p, e)) {
            if (a->now < predicted + wait)
                v.pending++;
            else /* where data was: an edge before the first bin is no evidence */
                v.missed += a->have_grid && predicted >= a->t0;
            continue;
        }
        v.score++;
        v.first_matched |= i == first;
        if (p->received && a->edges[e].received) {
            v.arrival_gap += fabs((double)(a->edges[e].received - p->received) - lag);
            v.timed++;
        }
    }
    return v;
}

/* More onsets matched wins; on a tie (a regular rhythm shifted by one
 * stimulus matches as many), fewer onsets whose edge the data has passed
 * unmatched: a rhythm shifted back leaves the first onsets without edges.
 * Then arrival times settle it when they can: a shift
 * by one stimulus moves every pair's arrival gap by about one onset spacing,
 * so a mean gap shorter by half the spacing or more marks the true pairing. A
 * smaller difference tells nothing: the onsets reached us in a burst (a run
 * loop held up), and then the later onsets, paired with the earlier onsets'
 * edges, look the closer pairs (a whole session was once shifted by one
 * trial so). Then the pairing that matches the first onset wins: a rhythm
 * shifted back leaves the first onsets without edges while the true one
 * waits for the latest onsets' edges. */
static int better(const vote *x, const vote *y, double spacing)
{
    if (x->score != y->score)
        return x->score > y->score;
    if (x->missed != y->missed)
        return x->missed < y->missed;
    int timed = x->timed == x->score && y->timed == y->score && x->timed > 0;
    double closer = timed ? (y->arrival_gap - x->arrival_gap) / x->timed : 0;
    if (timed && fabs(closer) >= spacing / 2)
        return closer > 0;
    if (x->first_matched != y->first_matched)
        return x->first_matched > y->first_matched;
    return closer > 0;
}

/* After a clock restart the first onsets may have been shown while
 * acquisition was stopped: they have no edges, and a regular rhythm shifted
 * by that many stimuli then matches more onsets than the true pairing. What
 * tells them apart is how long an edge took to follow its onset: what it
 * took before the restart for every true pair, a whole stimulus period more
 * or less for a shifted one. So among pairings enough onsets agree on, the
 * one whose arrival gaps lie closest to that (expected_lag) wins. */
static int better_after_restart(const vote *x, const vote *y, int need, double spacing)
{
    if (x->score >= need && y->score >= need && x->timed == x->score &&
        y->timed == y->score && x->timed > 0)
        return x->arrival_gap / x->timed < y->arrival_gap / y->timed;
    return better(x, y, spacing);
}

/* After a clock restart (where pairings enough onsets agree on are told
 * apart by their arrival gaps anyway, better_after_restart), a pairing that
 * wins the vote by one vote more while a rival one short of it paired its
 * messages closer together waits for the next onset or edge (until the vote
 * is full): an edge that reached us before its own onset
 * (the onset's message held up on its way, or its receiving thread waiting
 * for a CPU: acquire takes onsets and data from two threads) votes for the
 * pairing shifted by one stimulus (each onset with the next one's edge) and
 * not yet for the true one. With an onset shown while acquisition was
 * stopped at the head of the vote, the shifted pairing then reaches the
 * votes needed first (tests/test_run_external.sh put trial 62 on trial 63's
 * edge so). The onset's arrival gives the true pairing its vote back. Not
 * at the first vote, which more votes decide: there, waiting would only
 * bring on ties the arrival gaps decide, wrongly when the acquisition side
 * answers onsets more than half a stimulus period late (seen under load:
 * every trial one off). */
static int closer_rival(const vote *best, const vote *rival)
{
    return rival->score >= 1 && rival->score == best->score - 1 &&
           rival->timed == rival->score && best->timed == best->score &&
           rival->arrival_gap / rival->timed < best->arrival_gap / best->timed;
}

/* Onsets whose intervals differ (jittered gaps between stimuli,
 * docs/timing.md): a pairing shifted by a stimulus that ties with the true
 * one (as many onsets matched, as many missed: its anchor's interval
 * happened to equal its neighbours') loses the next onsets whose intervals
 * differ, while the tie rules of `better` (arrival gaps, the first onset
 * matched) can only guess: without arrival times, or with a rig that answers
 * half a stimulus late, they picked the shifted one (32 of 20,000 simulated
 * sessions whose first edge was lost, at 240 Hz with 0..11 frames of jitter;
 * 3 with this wait: bench-vote, docs/timing.md). So such
 * a tie waits for the next onset, while the vote has room and for at most
 * two intervals of data past the last voting onset (no more onsets may come:
 * the end of a block). Where the gaps are jittered (the config says so: the
 * first few intervals may happen to look alike) or the voting onsets'
 * intervals are seen to differ; a regular rhythm keeps the tie rules: more
 * onsets would tell it nothing. */
static int tie_undecided(acq_aligner *a, const vote *best, int first, int nonsets)
{
    int64_t longest = 0;
    int irregular = a->c.jittered_onsets;
    for (int i = first + 2; i < first + nonsets; i++) {
        int64_t d1 = pending_at(a, i)->t.onset_display_ns -
                     pending_at(a, i - 1)->t.onset_display_ns;
        int64_t d0 = pending_at(a, i - 1)->t.onset_display_ns -
                     pending_at(a, i - 2)->t.onset_display_ns;
        irregular |= llabs(d1 - d0) > a->c.match_tolerance_ns;
        longest = d1 > longest ? d1 : longest;
        longest = d0 > longest ? d0 : longest;
    }
    int64_t last = pending_at(a, first + nonsets - 1)->t.onset_display_ns;
    if (!irregular || a->now > last + best->offset + 2 * longest)
        return 0;
    int nedges = a->nedges < VOTE_EDGES ? a->nedges : VOTE_EDGES;
    for (int i = first; i < first + nonsets; i++)
        for (int j = 0; j < nedges; j++) {
            int64_t offset = a->edges[j].t - pending_at(a, i)->t.onset_display_ns;
            if (llabs(offset - best->offset) <= a->c.match_tolerance_ns)
                continue; /* the winner's own pairing */
            vote v = score_offset(a, offset, first, nonsets);
            if (v.score == best->score && v.missed == best->missed)
                return 1;
        }
    return 0;
}

static void find_first_offset(acq_aligner *a)
{
    int first = 0; /* onsets given up on (abandon_old_onsets) lead the queue */
    while (first < a->npending && pending_at(a, first)->decided)
        first++;
    int nonsets = a->npending - first < VOTE_ONSETS ? a->npending - first : VOTE_ONSETS;
    int nedges = a->nedges < VOTE_EDGES ? a->nedges : VOTE_EDGES;
    int need = a->c.min_initial_matches;
    if (a->finishing && need > nonsets)
        need = nonsets;
    if (nonsets < need || nonsets == 0 || nedges == 0)
        return;
    /* The smallest spacing of the voting onsets (a shift moves arrival gaps by that much). */
    double spacing = 0;
    for (int i = first + 1; i < first + nonsets; i++) {
        double d = fabs((double)(pending_at(a, i)->t.onset_display_ns -
                                 pending_at(a, i - 1)->t.onset_display_ns));
        spacing = i == first + 1 || d < spacing ? d : spacing;
    }
    vote best = {.score = -1};
    for (int i = first; i < first + nonsets; i++)
        for (int j = 0; j < nedges; j++) {
            int64_t offset = a->edges[j].t - pending_at(a, i)->t.onset_display_ns;
            vote v = score_offset(a, offset, first, nonsets);
            if (a->restart_received ? better_after_restart(&v, &best, need, spacing)
                                    : better(&v, &best, spacing))
                best = v;
        }
    if (best.score < need)
        return;
    /* Locked only on complete evidence: once the data has passed where the
     * winner puts every voting onset's edge (as decide_onsets waits for each
     * onset). Earlier, while the latest onsets' edges are on their way (a
     * rig that answers about a stimulus late), a rhythm shifted back by one
     * stimulus matches as many onsets, with gaps as close: it shifted every
     * trial of a session by one (tests/test_resume.sh under load). */
    a->vote_waiting = best.pending > 0 && !a->finishing;
    if (a->vote_waiting)
        return;
    a->vote_waiting = !a->finishing && nonsets < VOTE_ONSETS && tie_undecided(a, &best, first, nonsets);
    if (a->vote_waiting)
        return;
    if (a->restart_received && !a->finishing && nonsets < VOTE_ONSETS)
        for (int i = first; i < first + nonsets; i++)
            for (int j = 0; j < nedges; j++) {
                int64_t offset = a->edges[j].t - pending_at(a, i)->t.onset_display_ns;
                vote v = score_offset(a, offset, first, nonsets);
                if (closer_rival(&best, &v))
                    return;
            }
    for (int i = first; i < first + nonsets; i++) {
        pending_trial *p = pending_at(a, i);
        int e = -1, n = edges_near(a, p->t.onset_display_ns + best.offset, &e);
        if (n == 1 && arrived_together(a, p, e))
            anchor_on_edge(a, p, e);
    }
    a->offset_known = 1;
}

/* An onset whose edge (if any) has arrived: anchored on its one edge near
 * the fit's prediction, or placed by the fit and flagged (none, or several). */
static void decide_onset(acq_aligner *a, pending_trial *p, int64_t predicted)
{
    int e = -1, n = edges_near(a, predicted, &e);
    if (n == 1) {
        anchor_on_edge(a, p, e);
        return;
    }
    p->t.flags |= n == 0 ? ACQ_TRIAL_NO_SYNC : ACQ_TRIAL_AMBIGUOUS;
    /* No edge, and its onset reached us before the restarted clock's first
     * message: shown while acquisition was stopped (or as it started), as
     * restart_clock says of those that came RESTART_MARGIN_NS before it.
     * The margin only takes them out of the vote; the flag does not hang on
     * it, so an onset 100 ms before the start, give or take a busy moment,
     * is flagged the same either way. */
    if (n == 0 && p->received && a->restart_received && p->received < a->restart_received)
        p->t.flags |= ACQ_TRIAL_RESTART;
    a->stats.missing_edges += n == 0;
    a->stats.ambiguous += n > 1;
    p->t.onset_acq_ns = predicted;
    p->decided = 1;
}

/* Once the data has moved far enough past an onset's predicted edge, its
 * edge (if any) has arrived: match it, or place the onset by the fit. */
static void decide_onsets(acq_aligner *a)
{
    int64_t wait = a->c.match_tolerance_ns + (int64_t)a->c.grace_bins * a->width;
    for (int i = 0; i < a->npending; i++) {
        pending_trial *p = pending_at(a, i);
        if (p->decided)
            continue;
        int64_t predicted = fit_map(&a->fit, p->t.onset_display_ns);
        if (!a->finishing && a->now < predicted + wait)
            break;
        decide_onset(a, p, predicted);
    }
}

/* ------------------------------------------------------------------------ */
/* Bins. */

static int64_t floor_div(int64_t x, int64_t y)
{
    int64_t q = x / y;
    return q * y > x ? q - 1 : q;
}

static bin_slot *slot_of(acq_aligner *a, int64_t index)
{
    int64_t i = index % a->capacity;
    return &a->slots[i < 0 ? i + a->capacity : i];
}

static float *counts_of(acq_aligner *a, const bin_slot *s)
{
    return a->bins + (size_t)(s - a->slots) * (size_t)a->units;
}

static int start_grid(acq_aligner *a, int64_t start_ns, uint32_t width, int units, char *err)
{
    if (a->units == 0)
        a->units = units;
    int64_t slots = a->c.history_ns / width + 1;
    if (slots < 2 * a->c.grace_bins + 4)
        slots = 2 * a->c.grace_bins + 4;
    if (slots > MAX_SLOTS || (size_t)slots * (size_t)a->units * sizeof(float) > MAX_RING_BYTES)
        return acq_fail(err, "mismatch: %u ns bins of %d units over a %.1f s history "
                        "need too much memory", width, a->units, (double)a->c.history_ns / 1e9);
    a->capacity = (int)slots;
    a->slots = calloc((size_t)a->capacity, sizeof *a->slots);
    a->bins = calloc((size_t)a->capacity * (size_t)a->units, sizeof *a->bins);
    if (!a->slots || !a->bins)
        return acq_fail(err, "aligner: out of memory for %d bins of %d units",
                        a->capacity, a->units);
    a->t0 = start_ns;
    a->width = width;
    a->max_index = INT64_MIN;
    a->have_grid = 1;
    return 0;
}

static void advance(acq_aligner *a);

static void add_suspect(acq_aligner *a, int64_t from, int64_t to, uint32_t flag)
{
    if (a->nsuspects == MAX_SUSPECT) {
        memmove(a->suspects, a->suspects + 1, sizeof(suspect) * (MAX_SUSPECT - 1));
        a->nsuspects--;
    }
    a->suspects[a->nsuspects++] = (suspect){from, to, flag};
}

static void store_bin(acq_aligner *a, int64_t k, const float *counts)
{
    bin_slot *s = slot_of(a, k);
    float *dst = counts_of(a, s);
    if (s->index == k && s->state != SLOT_EMPTY) {
        /* The same bin twice: harmless when identical, ambiguous otherwise. */
        a->stats.duplicate_bins++;
        if (memcmp(dst, counts, sizeof(float) * (size_t)a->units))
            s->state = SLOT_CONFLICT;
        return;
    }
    s->index = k;
    s->state = SLOT_VALID;
    memcpy(dst, counts, sizeof(float) * (size_t)a->units);
}

int acq_aligner_add_bins(acq_aligner *a, int64_t start_ns, uint32_t width_ns, const float *counts,
                         int units, uint32_t item_flags, char *err)
{
    if (out_of_range(start_ns) || width_ns == 0 || units < 1) {
        a->stats.rejected_bins++;
        return acq_fail_reject(err, ACQ_REJECT_VALUE, "bin at %lld ns, %u ns wide, %d units",
                               (long long)start_ns, width_ns, units);
    }
    if (!a->have_grid && start_grid(a, start_ns, width_ns, units, err)) {
        a->stats.rejected_bins++;
        return ACQ_REJECT_MISMATCH;
    }
    int64_t rel = start_ns - a->t0, k = floor_div(rel + width_ns / 2, width_ns);
    int64_t off = rel - k * (int64_t)width_ns;
    if (units != a->units || width_ns != a->width || llabs(off) > (int64_t)width_ns / 8) {
        a->stats.rejected_bins++;
        add_suspect(a, start_ns, start_ns + width_ns, ACQ_TRIAL_MISMATCH);
        return acq_fail_reject(err, ACQ_REJECT_MISMATCH, "bin of %d units, %u ns at %lld does "
                               "not fit the stream's %d units, %u ns grid", units, width_ns,
                               (long long)start_ns, a->units, a->width);
    }
    item_flags |= a->item_flags;
    a->item_flags = 0;
    if (item_flags & ACQ_ITEM_CLOCK_RESET) /* handled: the new clock's first bin */
        item_flags &= ~(uint32_t)ACQ_ITEM_RESTART;
    if ((item_flags & (ACQ_ITEM_RESTART | ACQ_ITEM_AFTER_OVERFLOW)) && a->max_index != INT64_MIN)
        add_suspect(a, a->last_bin_end, start_ns + width_ns,
                    item_flags & ACQ_ITEM_RESTART ? ACQ_TRIAL_RESTART : ACQ_TRIAL_LOST);
    if (a->max_index != INT64_MIN && k <= a->max_index - a->capacity) {
        a->stats.stale_bins++;
        return ACQ_OK;
    }
    store_bin(a, k, counts);
    if (k > a->max_index) {
        /* Slots skipped over now belong to bins that may never come. */
        int64_t j = a->max_index == INT64_MIN ? k : a->max_index + 1;
        if (j < k - a->capacity + 1)
            j = k - a->capacity + 1;
        for (; j < k; j++) {
            slot_of(a, j)->state = SLOT_EMPTY;
            slot_of(a, j)->index = j;
        }
        a->max_index = k;
        a->last_bin_end = start_ns + width_ns;
    }
    if (start_ns + width_ns > a->now)
        a->now = start_ns + width_ns;
    /* Trials complete as their bins arrive, whether or not anyone asks yet. */
    advance(a);
    return ACQ_OK;
}

/* ------------------------------------------------------------------------ */
/* Trials. */

static int64_t ceil_div(int64_t x, int64_t y) { return -floor_div(-x, y); }

/* Bin numbers whose centres lie in [from, to). */
static void window_bins(const acq_aligner *a, int64_t from, int64_t to, int64_t *first,
                        int64_t *last)
{
    int64_t w = a->width, half = w / 2;
    *first = ceil_div(from - a->t0 - half, w);
    *last = ceil_div(to - a->t0 - half, w) - 1;
}

static int sum_window(acq_aligner *a, pending_trial *p)
{
    int64_t from = p->t.onset_acq_ns + a->c.latency_ns, to = from + a->c.window_ns, k0, k1;
    window_bins(a, from, to, &k0, &k1);
    /* The bins summed reach past the window by up to half a bin: data lost
     * there is missing from the counts too. */
    if (k0 <= k1 && a->t0 + k0 * (int64_t)a->width < from)
        from = a->t0 + k0 * (int64_t)a->width;
    if (k0 <= k1 && a->t0 + (k1 + 1) * (int64_t)a->width > to)
        to = a->t0 + (k1 + 1) * (int64_t)a->width;
    p->t.counted_from_ns = from;
    p->t.counted_to_ns = to;
    p->counts = calloc((size_t)a->units, sizeof(float));
    if (!p->counts)
        return 1;
    for (int64_t k = k0; k <= k1; k++) {
        bin_slot *s = slot_of(a, k);
        if (k <= a->max_index - a->capacity) {
            p->t.flags |= ACQ_TRIAL_STALE;
            continue;
        }
        if (s->index != k || s->state == SLOT_EMPTY) {
            p->t.flags |= ACQ_TRIAL_LOST;
            continue;
        }
        if (s->state == SLOT_CONFLICT)
            p->t.flags |= ACQ_TRIAL_DUPLICATE;
        const float *c = counts_of(a, s);
        for (int u = 0; u < a->units; u++)
            p->counts[u] += c[u];
        p->t.bins++;
    }
    for (int i = 0; i < a->nsuspects; i++)
        if (a->suspects[i].from < to && a->suspects[i].to > from)
            p->t.flags |= a->suspects[i].flag;
    p->t.completed_ns = acq_now_ns();
    p->complete = 1;
    return 0;
}

/* The next pending trial, in order, whose onset is placed and whose counts
 * are not yet summed; NULL at the first one not yet placed or at the end.
 * `*cursor` starts at 0. */
static pending_trial *next_open_trial(acq_aligner *a, int *cursor)
{
    for (; *cursor < a->npending; (*cursor)++) {
        pending_trial *p = pending_at(a, *cursor);
        if (!p->decided)
            return NULL;
        if (!p->complete) {
            (*cursor)++;
            return p;
        }
    }
    return NULL;
}

static void complete_trials(acq_aligner *a)
{
    if (!a->have_grid)
        return;
    int cursor = 0;
    for (pending_trial *p; (p = next_open_trial(a, &cursor));) {
        int64_t k0, k1, from = p->t.onset_acq_ns + a->c.latency_ns;
        window_bins(a, from, from + a->c.window_ns, &k0, &k1);
        if (!a->finishing && a->max_index < k1 + a->c.grace_bins)
            break;
        if (sum_window(a, p))
            break;
    }
}

/* Before the first offset is known, onsets that arrived a whole history
 * before the latest news will never meet their edges (the data stream started
 * after them): they leave, flagged, instead of blocking the vote forever. */
/* After a clock restart, an onset that reached us before the new clock's
 * first message, and longer than the pairing limit before its earliest edge,
 * was shown while acquisition was stopped: no edge will ever be its. */
static int shown_while_stopped(const acq_aligner *a, const pending_trial *p)
{
    if (!a->restart_received || !p->received || p->received >= a->restart_received ||
        !a->c.max_arrival_gap_ns)
        return 0;
    int64_t earliest = INT64_MAX;
    for (int i = 0; i < a->nedges; i++)
        if (a->edges[i].received && a->edges[i].received < earliest)
            earliest = a->edges[i].received;
    return earliest != INT64_MAX && earliest - p->received > a->c.max_arrival_gap_ns;
}

static void abandon_old_onsets(acq_aligner *a)
{
    for (int i = 0; i < a->npending; i++) {
        pending_trial *p = pending_at(a, i);
        if (p->decided)
            continue;
        int stopped = shown_while_stopped(a, p);
        if (!stopped && (!p->received || a->units == 0 ||
                         a->latest_received - p->received <= a->c.history_ns))
            break;
        p->counts = calloc((size_t)(a->units > 0 ? a->units : 1), sizeof(float));
        if (!p->counts)
            break;
        p->t.flags |= ACQ_TRIAL_NO_SYNC | (stopped ? ACQ_TRIAL_RESTART : ACQ_TRIAL_STALE);
        a->stats.missing_edges++;
        p->decided = p->complete = 1;
    }
}

static void advance(acq_aligner *a)
{
    if (!a->offset_known)
        abandon_old_onsets(a);
    if (!a->offset_known && (a->vote_due || a->vote_waiting || a->finishing))
        find_first_offset(a);
    a->vote_due = 0;
    if (a->offset_known) {
        decide_onsets(a);
        complete_trials(a);
    }
    forget_old_edges(a);
}

int acq_aligner_next_complete_trial(acq_aligner *a, acq_trial *t, float *counts)
{
    advance(a);
    if (a->npending == 0 || !pending_at(a, 0)->complete)
        return 0;
    pending_trial *p = pending_at(a, 0);
    *t = p->t;
    memcpy(counts, p->counts, sizeof(float) * (size_t)a->units);
    free(p->counts);
    a->head++;
    a->npending--;
    if (a->npending == 0)
        a->head = 0;
    return 1;
}

void acq_aligner_finish(acq_aligner *a)
{
    a->finishing = 1;
    if (!a->offset_known) {
        find_first_offset(a);
        /* No edge at all: nothing can be placed; every trial is flagged. */
        a->offset_known = 1;
    }
    if (!a->have_grid) {
        for (int i = 0; i < a->npending; i++) {
            pending_trial *p = pending_at(a, i);
            p->decided = p->complete = 1;
            p->t.flags |= ACQ_TRIAL_LOST | (p->t.sync_edge_ns ? 0 : ACQ_TRIAL_NO_SYNC);
            p->counts = calloc((size_t)(a->units > 0 ? a->units : 1), sizeof(float));
        }
        return;
    }
    advance(a);
}

/* A span of possible loss: trials whose windows overlap it are flagged, the
 * ones still to be summed through the suspects, those already summed but
 * not yet taken here. */
static void add_loss(acq_aligner *a, int64_t from, int64_t to)
{
    if (out_of_range(from) || out_of_range(to) || to < from)
        from = -TIME_LIMIT, to = TIME_LIMIT; /* a wild bound: everything may be lost */
    add_suspect(a, from, to, ACQ_TRIAL_LOST);
    for (int i = 0; i < a->npending; i++) {
        pending_trial *p = pending_at(a, i);
        if (p->complete && p->t.counted_to_ns > p->t.counted_from_ns &&
            from < p->t.counted_to_ns && to > p->t.counted_from_ns)
            p->t.flags |= ACQ_TRIAL_LOST;
    }
}

/* The acquisition clock restarted (a GUI stop and start): trials of the old
 * clock are closed (flagged where their windows reach past its last bin),
 * onsets not yet on it wait for a fit made anew from the edges that follow. */
static void restart_clock(acq_aligner *a, int64_t restart_received)
{
    if (a->have_grid && a->offset_known) {
        int64_t old_now = a->now;
        for (int i = 0; i < a->npending; i++) {
            pending_trial *p = pending_at(a, i);
            if (p->decided)
                continue;
            int64_t predicted = fit_map(&a->fit, p->t.onset_display_ns);
            if (predicted > old_now + a->c.match_tolerance_ns)
                break;
            decide_onset(a, p, predicted);
        }
        int cursor = 0;
        for (pending_trial *p; (p = next_open_trial(a, &cursor));) {
            if (p->t.onset_acq_ns + a->c.latency_ns + a->c.window_ns > a->last_bin_end)
                p->t.flags |= ACQ_TRIAL_RESTART;
            if (sum_window(a, p))
                break;
        }
    }
    /* Onsets the old clock could not place wait for the new fit, except
     * those that reached us well before the new clock's first message: shown
     * while acquisition was stopped, they have no edge on either clock, and
     * left in the vote they would pull it onto a shifted rhythm. */
    for (int i = 0; i < a->npending; i++) {
        pending_trial *p = pending_at(a, i);
        if (p->complete)
            continue;
        p->decided = 0;
        if (!p->received || !restart_received ||
            p->received >= restart_received - RESTART_MARGIN_NS)
            continue;
        p->counts = calloc((size_t)(a->units > 0 ? a->units : 1), sizeof(float));
        if (!p->counts)
            continue;
        p->t.flags |= ACQ_TRIAL_NO_SYNC | ACQ_TRIAL_RESTART;
        p->t.completed_ns = acq_now_ns();
        a->stats.missing_edges++;
        p->decided = p->complete = 1;
    }
    a->restart_received = restart_received;
    for (int i = 0; i < a->nedges; i++)
        a->stats.unmatched_edges += !a->edges[i].matched;
    a->nedges = 0;
    a->nsuspects = 0;
    memset(&a->fit, 0, sizeof a->fit);
    a->offset_known = 0;
    a->vote_due = 1;
    free(a->slots);
    free(a->bins);
    a->slots = NULL;
    a->bins = NULL;
    a->have_grid = 0;
    a->now = -TIME_LIMIT;
    a->last_bin_end = 0;
    a->item_flags = 0;
    a->stats.clock_restarts++;
}

int acq_aligner_add_item(acq_aligner *a, const acq_item *item, char *err)
{
    if (item->flags & ACQ_ITEM_CLOCK_RESET)
        restart_clock(a, item->received_ns);
    if (item->type == ACQ_ITEM_LOSS) {
        add_loss(a, item->timestamp_ns, item->until_ns);
        return ACQ_OK;
    }
    if (item->type == ACQ_MSG_COUNTS)
        return acq_aligner_add_bins(a, item->timestamp_ns, item->bin_width_ns, item->counts,
                                    (int)item->count, item->flags, err);
    /* A restart or an overflow marks the time up to the next bin, whatever
     * kind of item brought the news. */
    a->item_flags |= item->flags & (ACQ_ITEM_AFTER_OVERFLOW |
                                    (item->flags & ACQ_ITEM_CLOCK_RESET ? 0 : ACQ_ITEM_RESTART));
    if (item->type == ACQ_MSG_EVENTS)
        for (uint32_t i = 0; i < item->count; i++)
            acq_aligner_add_sync(a, item->events[i].timestamp_ns, item->events[i].line,
                                 item->events[i].rising, item->received_ns);
    if (item->type == ACQ_MSG_ONSET)
        return acq_aligner_add_onset(a, item->onset.trial, item->onset.stimulus_id,
                                     item->onset.onset_ns, item->received_ns, err)
                   ? ACQ_REJECT_VALUE
                   : ACQ_OK;
    return ACQ_OK;
}
