/* virtual_rig.c: the simulated acquisition system (virtual_rig.h). */
#include "virtual_rig.h"
#include "controller_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rig_trial {
    acq_onset onset;
    int64_t acq_onset, edge;  /* rig clock: the true onset and its sync edge */
    int64_t first_bin;
    int nbins;
    float *spread;            /* nbins × neurons, until its bins are out */
    float *total;             /* neurons: spikes placed in its bins */
    uint32_t flags;
    int edge_sent;
} rig_trial;

struct virtual_rig {
    rig_config c;
    acq_publisher *pub;
    sim_population *pop;
    auditory_population *audio; /* instead of pop, rig_config.audio */
    int height, width;          /* what an onset's attached image must be */
    int neurons;
    model_rng rng;
    int64_t display_start;
    int64_t next_bin;         /* the next bin to publish */
    int64_t next_heartbeat;   /* rig clock */
    rig_trial *trials;
    int ntrials, cap, first_active;
    float *bin_counts, *image, *rates;
    /* faults */
    uint64_t messages;
    int restarted, drop_remaining;
    acq_encoded held;
    int holding, held_trial;
    int64_t held_bin;
    uint64_t dropped, reordered, sent;
};

void rig_config_default(rig_config *c)
{
    memset(c, 0, sizeof *c);
    sim_config_default(&c->population);
    c->bin_ns = 10000000;
    c->latency_ns = 50000000;
    c->window_ns = 500000000;
    c->clock_offset_ns = 1000000000;
    c->clock_drift = 20e-6;
    c->sync_latency_ns = 0;
    c->jitter_ns = 100000;
    c->sync_line = 0;
    c->restart_gap = 5;
    c->counts_dtype = ACQ_DTYPE_U16;
    c->seed = 1;
}

static int64_t floor_div(int64_t x, int64_t y)
{
    int64_t q = x / y;
    return q * y > x ? q - 1 : q;
}

static int64_t rig_clock(const virtual_rig *r, int64_t display)
{
    return r->c.clock_offset_ns +
           (int64_t)llround((double)(display - r->display_start) * (1.0 + r->c.clock_drift));
}

static int64_t display_clock(const virtual_rig *r, int64_t rig)
{
    return r->display_start +
           (int64_t)llround((double)(rig - r->c.clock_offset_ns) / (1.0 + r->c.clock_drift));
}

int rig_create(virtual_rig **out, const rig_config *c, acq_publisher *pub, int64_t display_now,
               char *err)
{
    *out = NULL;
    if (c->bin_ns <= 0 || c->window_ns < 2 * c->bin_ns || c->latency_ns < 0 || c->jitter_ns < 0 ||
        c->loss < 0 || c->loss >= 1 || c->reorder < 0 || c->reorder >= 1 || c->restart_gap < 0 ||
        c->drop_sync_every < 0 || c->drop_bin_every < 0)
        return controller_fail(err, "virtual rig: bin > 0, window >= 2 bins, latency, "
                                    "jitter and drop intervals >= 0, loss and reorder in [0, 1)");
    virtual_rig *r = calloc(1, sizeof *r);
    if (!r)
        return controller_fail(err, "virtual rig: out of memory");
    r->c = *c;
    r->pub = pub;
    if (c->audio) {
        auditory_config a = c->auditory;
        a.neurons = c->population.neurons;
        a.seed = c->population.seed;
        if (auditory_population_create(&r->audio, &a, err)) {
            free(r);
            return 1;
        }
        r->neurons = a.neurons;
        r->height = a.cochlea.bands;
        r->width = (a.cochlea.samples - a.cochlea.window) / a.cochlea.hop + 1;
    } else {
        if (sim_population_create(&r->pop, &c->population, err)) {
            free(r);
            return 1;
        }
        r->neurons = sim_population_neurons(r->pop);
        r->height = c->population.height;
        r->width = c->population.width;
    }
    size_t pixels = (size_t)r->height * (size_t)r->width;
    r->bin_counts = malloc(sizeof(float) * (size_t)r->neurons);
    r->rates = malloc(sizeof(float) * (size_t)r->neurons);
    r->image = malloc(sizeof(float) * pixels);
    if (!r->bin_counts || !r->rates || !r->image) {
        rig_destroy(r);
        return controller_fail(err, "virtual rig: out of memory");
    }
    model_rng_seed(&r->rng, c->seed);
    r->display_start = display_now;
    r->next_bin = floor_div(rig_clock(r, display_now), c->bin_ns) + 1;
    r->next_heartbeat = rig_clock(r, display_now);
    *out = r;
    return 0;
}

void rig_destroy(virtual_rig *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->ntrials; i++) {
        free(r->trials[i].spread);
        free(r->trials[i].total);
    }
    if (r->holding)
        free(r->held.payload);
    free(r->trials);
    free(r->bin_counts);
    free(r->rates);
    free(r->image);
    sim_population_destroy(r->pop);
    auditory_population_destroy(r->audio);
    free(r);
}

int rig_trials(const virtual_rig *r) { return r->ntrials; }

int rig_trials_published(const virtual_rig *r)
{
    int n = 0;
    for (int i = 0; i < r->ntrials; i++)
        n += r->trials[i].edge_sent && r->trials[i].first_bin + r->trials[i].nbins <= r->next_bin;
    return n;
}

/* ------------------------------------------------------------------------ */
/* Onsets: draw the counts and spread the spikes over the window's bins. */

static rig_trial *new_trial(virtual_rig *r, char *err)
{
    if (r->ntrials == r->cap) {
        int cap = r->cap ? 2 * r->cap : 256;
        rig_trial *grown = realloc(r->trials, sizeof *grown * (size_t)cap);
        if (!grown) {
            controller_fail(err, "virtual rig: out of memory");
            return NULL;
        }
        r->trials = grown;
        r->cap = cap;
    }
    rig_trial *t = &r->trials[r->ntrials];
    memset(t, 0, sizeof *t);
    return t;
}

int rig_onset(virtual_rig *r, const acq_onset *o, const float *image, char *err)
{
    const sim_config *pc = &r->c.population;
    if (image && (o->height != (uint32_t)r->height || o->width != (uint32_t)r->width))
        return controller_fail(err, "trial %llu: image %u×%u, the population sees %d×%d",
                               (unsigned long long)o->trial, o->height, o->width, r->height,
                               r->width);
    if (!image && r->audio)
        return controller_fail(err, "trial %llu: no cochleagram attached (an auditory "
                               "population hears only what the onset carries)",
                               (unsigned long long)o->trial);
    /* The display shares this machine's CLOCK_MONOTONIC: an onset more than an
     * hour before the rig started, or a year after, is not one of ours. */
    if (o->onset_ns < r->display_start - 3600000000000LL ||
        o->onset_ns > r->display_start + 86400000000000LL * 365)
        return controller_fail(err, "trial %llu: onset at %lld ns is not on this machine's "
                               "CLOCK_MONOTONIC", (unsigned long long)o->trial,
                               (long long)o->onset_ns);
    rig_trial *t = new_trial(r, err);
    if (!t)
        return 1;
    if (!image) {
        sim_natural_images(r->image, 1, pc->height, pc->width, o->stimulus_id);
        image = r->image;
    }
    t->onset = *o;
    t->acq_onset = rig_clock(r, o->onset_ns) + r->c.sync_latency_ns;
    t->edge = t->acq_onset +
              (int64_t)llround((2 * model_rng_uniform(&r->rng) - 1) * (double)r->c.jitter_ns);
    int64_t from = t->acq_onset + r->c.latency_ns, to = from + r->c.window_ns;
    t->first_bin = -floor_div(-from, r->c.bin_ns);           /* wholly inside: starts >= from */
    t->nbins = (int)(floor_div(to, r->c.bin_ns) - t->first_bin); /* and ends <= to */
    t->spread = calloc((size_t)t->nbins * (size_t)r->neurons, sizeof(float));
    t->total = calloc((size_t)r->neurons, sizeof(float));
    if (!t->spread || !t->total) {
        free(t->spread);
        free(t->total);
        return controller_fail(err, "virtual rig: out of memory");
    }
    if (r->audio) {
        auditory_population_rates_image(r->audio, image, 1, r->rates);
        for (int n = 0; n < r->neurons; n++)
            r->rates[n] = (float)model_rng_poisson(&r->rng, r->rates[n]);
    } else {
        sim_population_sample(r->pop, image, 1, &r->rng, r->rates);
    }
    for (int n = 0; n < r->neurons; n++)
        for (int s = 0; s < (int)r->rates[n]; s++) {
            int b = (int)(model_rng_uniform(&r->rng) * t->nbins);
            /* Spikes for bins already out (a late onset message) are never shown. */
            if (t->first_bin + b >= r->next_bin) {
                t->spread[(size_t)b * (size_t)r->neurons + (size_t)n] += 1;
                t->total[n] += 1;
            }
        }
    r->ntrials++;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Faults and sending. */

/* The trials whose spikes were in a dropped bin, or whose edge was dropped. */
static void mark_dropped(virtual_rig *r, int64_t bin, int trial, uint32_t extra)
{
    if (trial >= 0)
        r->trials[trial].flags |= RIG_LOST_SYNC | extra;
    for (int i = r->first_active; bin >= 0 && i < r->ntrials; i++) {
        rig_trial *t = &r->trials[i];
        if (bin >= t->first_bin && bin < t->first_bin + t->nbins)
            t->flags |= RIG_LOST_BIN | extra;
    }
}

static void send_now(virtual_rig *r, acq_encoded *e)
{
    acq_publisher_send_encoded(r->pub, e);
    r->sent++;
}

static void flush_held(virtual_rig *r)
{
    if (r->holding) {
        send_now(r, &r->held);
        r->holding = 0;
    }
}

/* Before encoding: the one restart, when its time has come. Trials whose
 * spikes are being published at that moment get RIG_RESTART. */
static void maybe_restart(virtual_rig *r)
{
    if (!r->c.restart_after || r->restarted || r->messages < r->c.restart_after)
        return;
    flush_held(r);
    r->restarted = 1;
    acq_publisher_restart(r->pub, (uint32_t)(r->c.seed * 7919u + 2));
    r->drop_remaining = r->c.restart_gap;
    for (int i = r->first_active; i < r->ntrials; i++) {
        rig_trial *t = &r->trials[i];
        if (r->next_bin >= t->first_bin && r->next_bin < t->first_bin + t->nbins)
            t->flags |= RIG_RESTART;
    }
}

static void drop(virtual_rig *r, acq_encoded *e, int64_t bin, int trial, uint32_t extra)
{
    mark_dropped(r, bin, trial, extra);
    free(e->payload);
    r->dropped++;
}

/* A trial numbered a positive multiple of `every` (0: none). */
static int chosen(const rig_trial *t, int every)
{
    return every > 0 && t->onset.trial > 0 && t->onset.trial % (uint64_t)every == 0;
}

/* drop_bin_every: the bin is the last of a chosen trial's window (the last
 * to go out, so an onset that reaches the rig late still has it). */
static int bin_to_drop(const virtual_rig *r, int64_t bin)
{
    for (int i = r->first_active; bin >= 0 && i < r->ntrials; i++) {
        const rig_trial *t = &r->trials[i];
        if (chosen(t, r->c.drop_bin_every) && bin == t->first_bin + t->nbins - 1)
            return 1;
    }
    return 0;
}

static void deliver(virtual_rig *r, acq_encoded *e, int64_t bin, int trial)
{
    r->messages++;
    if ((trial >= 0 && chosen(&r->trials[trial], r->c.drop_sync_every)) || bin_to_drop(r, bin)) {
        drop(r, e, bin, trial, 0);
        return;
    }
    if (r->drop_remaining > 0 || model_rng_uniform(&r->rng) < r->c.loss) {
        uint32_t extra = r->drop_remaining > 0 ? RIG_RESTART : 0;
        r->drop_remaining -= r->drop_remaining > 0;
        drop(r, e, bin, trial, extra);
        return;
    }
    if (!r->holding && model_rng_uniform(&r->rng) < r->c.reorder) {
        r->held = *e;
        r->holding = 1;
        r->reordered++;
        return;
    }
    send_now(r, e);
    flush_held(r);
}

static void emit_edge(virtual_rig *r, int i)
{
    acq_event ev = {r->trials[i].edge, (uint16_t)r->c.sync_line, 1};
    acq_encoded e;
    maybe_restart(r);
    if (acq_publisher_encode_events(r->pub, ev.timestamp_ns, &ev, 1, &e) == 0)
        deliver(r, &e, -1, i);
    r->trials[i].edge_sent = 1;
}

static void emit_bin(virtual_rig *r, int64_t k)
{
    memset(r->bin_counts, 0, sizeof(float) * (size_t)r->neurons);
    for (int i = r->first_active; i < r->ntrials; i++) {
        rig_trial *t = &r->trials[i];
        if (k < t->first_bin || k >= t->first_bin + t->nbins || !t->spread)
            continue;
        const float *s = t->spread + (size_t)(k - t->first_bin) * (size_t)r->neurons;
        for (int n = 0; n < r->neurons; n++)
            r->bin_counts[n] += s[n];
    }
    acq_encoded e;
    maybe_restart(r);
    if (acq_publisher_encode_counts(r->pub, k * r->c.bin_ns, (uint32_t)r->c.bin_ns, r->bin_counts,
                                    (uint32_t)r->neurons, r->c.counts_dtype, &e) == 0)
        deliver(r, &e, k, -1);
}

static void emit_heartbeat(virtual_rig *r, int64_t t)
{
    acq_encoded e;
    maybe_restart(r);
    acq_publisher_encode_heartbeat(r->pub, t, &e);
    deliver(r, &e, -1, -1);
}

/* Trials whose bins and edge are all out no longer need their spread. */
static void retire_trials(virtual_rig *r)
{
    while (r->first_active < r->ntrials) {
        rig_trial *t = &r->trials[r->first_active];
        if (!t->edge_sent || t->first_bin + t->nbins > r->next_bin)
            break;
        free(t->spread);
        t->spread = NULL;
        r->first_active++;
    }
}

int64_t rig_tick(virtual_rig *r, int64_t display_now)
{
    int64_t now = rig_clock(r, display_now), bin = r->c.bin_ns;
    while ((r->next_bin + 1) * bin <= now) {
        int64_t end = (r->next_bin + 1) * bin;
        for (int i = r->first_active; i < r->ntrials; i++)
            if (!r->trials[i].edge_sent && r->trials[i].edge < end)
                emit_edge(r, i);
        emit_bin(r, r->next_bin);
        r->next_bin++;
        if (end >= r->next_heartbeat) {
            emit_heartbeat(r, end);
            r->next_heartbeat = end + 1000000000;
        }
        retire_trials(r);
    }
    /* A held message goes out after the next one, at the latest one bin later. */
    return display_clock(r, (r->next_bin + 1) * bin) - display_now;
}

/* ------------------------------------------------------------------------ */

int rig_write_truth(const virtual_rig *r, const char *dir, char *err)
{
    char path[4096];
    int64_t n = r->ntrials;
    float *counts = malloc(sizeof(float) * (size_t)(n ? n : 1) * (size_t)r->neurons);
    int64_t *rows = malloc(sizeof(int64_t) * 6 * (size_t)(n ? n : 1));
    int status = 1;
    if (counts && rows) {
        for (int64_t i = 0; i < n; i++) {
            const rig_trial *t = &r->trials[i];
            memcpy(counts + i * r->neurons, t->total, sizeof(float) * (size_t)r->neurons);
            int64_t row[6] = {(int64_t)t->onset.trial, (int64_t)t->onset.stimulus_id,
                              t->onset.onset_ns, t->acq_onset, t->edge, (int64_t)t->flags};
            memcpy(rows + 6 * i, row, sizeof row);
        }
        int64_t cshape[2] = {n, r->neurons}, tshape[2] = {n, 6};
        snprintf(path, sizeof path, "%s/truth_counts.npy", dir);
        status = npy_write(path, NPY_FLOAT32, 2, cshape, counts, err);
        snprintf(path, sizeof path, "%s/truth_trials.npy", dir);
        if (!status)
            status = npy_write(path, NPY_INT64, 2, tshape, rows, err);
    } else {
        controller_fail(err, "virtual rig: out of memory");
    }
    free(counts);
    free(rows);
    return status;
}

void rig_stats_get(const virtual_rig *r, rig_stats *s)
{
    memset(s, 0, sizeof *s);
    s->trials = r->ntrials;
    for (int i = 0; i < r->ntrials; i++)
        s->affected += r->trials[i].flags != 0;
    s->sent = r->sent;
    s->dropped = r->dropped;
    s->reordered = r->reordered;
    s->restarted = r->restarted;
}
