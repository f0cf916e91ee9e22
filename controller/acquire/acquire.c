/* acquire.c: `inception acquire`'s receive, align and write (acquire.h). */
#include "acquire.h"
#include "controller_util.h"
#include "model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The trials taken so far: counts and trials.npy's rows, in parallel arrays. */
typedef struct trial_rows {
    float *counts;
    int64_t *rows;
    uint8_t *old_clock; /* 1: completed on a clock the GUI has stopped since */
    int64_t *span;      /* per row: acq_trial counted_from_ns, counted_to_ns */
    int n, units;
    size_t cap;
} trial_rows;

static int rows_add(trial_rows *r, const acq_trial *t, const float *counts)
{
    if ((size_t)r->n == r->cap) {
        size_t cap = grow_capacity_for(r->cap, r->cap + 1, 256);
        if (grow_resize(&r->counts, cap * (size_t)r->units, sizeof(float)) ||
            grow_resize(&r->rows, cap * 6, sizeof(int64_t)) ||
            grow_resize(&r->old_clock, cap, sizeof(uint8_t)) ||
            grow_resize(&r->span, cap * 2, sizeof(int64_t)))
            return 1;
        r->cap = cap;
    }
    memcpy(r->counts + (size_t)r->n * (size_t)r->units, counts, sizeof(float) * (size_t)r->units);
    int64_t row[6] = {(int64_t)t->trial, (int64_t)t->stimulus_id, t->onset_display_ns,
                      t->onset_acq_ns, t->sync_edge_ns, (int64_t)t->flags};
    memcpy(r->rows + 6 * (size_t)r->n, row, sizeof row);
    r->old_clock[r->n] = 0;
    r->span[2 * r->n] = t->counted_from_ns;
    r->span[2 * r->n + 1] = t->counted_to_ns;
    r->n++;
    return 0;
}

static void rows_free(trial_rows *r)
{
    free(r->counts);
    free(r->rows);
    free(r->old_clock);
    free(r->span);
}

static int rows_write(const trial_rows *r, const char *dir, char *err)
{
    char path[4096];
    int64_t cshape[2] = {r->n, r->units}, tshape[2] = {r->n, 6};
    float none = 0;
    int64_t none_row = 0;
    snprintf(path, sizeof path, "%s/responses.npy", dir);
    if (npy_write(path, NPY_FLOAT32, 2, cshape, r->counts ? (void *)r->counts : &none, err))
        return 1;
    snprintf(path, sizeof path, "%s/trials.npy", dir);
    return npy_write(path, NPY_INT64, 2, tshape, r->rows ? (void *)r->rows : &none_row, err);
}

/* Open Ephys: unit_map.json beside responses.npy. */
static int unit_map_write(acq_receiver *data, const char *dir, char *err)
{
    char *map = acq_receiver_unit_map(data), path[4096];
    if (!map)
        return 0;
    snprintf(path, sizeof path, "%s/unit_map.json", dir);
    FILE *f = fopen(path, "w");
    int bad = !f || fputs(map, f) < 0;
    bad |= f && fclose(f) != 0;
    free(map);
    return bad ? controller_fail(err, "cannot write %s", path) : 0;
}

typedef struct acquire_state {
    const acquire_config *c;
    acquire_event_fn on_event;
    void *user;
    acq_receiver *data, *onsets;
    acq_aligner *aligner;
    trial_rows rows;
    float *counts;
    int flagged;
    int64_t last_data;  /* CLOCK_MONOTONIC of the last data item */
    int silent;         /* the silence was told */
    int64_t clock_reset_ns; /* CLOCK_MONOTONIC: the latest clock reset the aligner took */
    int flagged_late;   /* rows flagged by a span of possible loss after they were taken */
} acquire_state;

static void tell(const acquire_state *s, acquire_stage stage, double seconds)
{
    acquire_event e = {stage, s->rows.n, s->flagged, seconds};
    if (s->on_event)
        s->on_event(&e, s->user);
}

/* A span of possible loss (an Open Ephys spike too late for its bin) that
 * came after trials it overlaps were taken from the aligner: their rows gain
 * flag 1, as `inception run` records a `trial_flags` record for them. Rows
 * of a clock the GUI stopped since are not the span's. */
static void flag_taken_rows(acquire_state *s, int64_t from, int64_t until)
{
    trial_rows *r = &s->rows;
    for (int i = 0; i < r->n; i++) {
        int64_t *row = r->rows + 6 * (size_t)i, lo = r->span[2 * i], hi = r->span[2 * i + 1];
        if (r->old_clock[i] || hi <= lo || !(from < hi && until > lo) ||
            (row[5] & ACQ_TRIAL_LOST))
            continue;
        s->flagged += row[5] == 0;
        row[5] |= ACQ_TRIAL_LOST;
        s->flagged_late++;
    }
}

/* Moves completed trials from the aligner to the rows; returns 1 on failure. */
static int drain_trials(acquire_state *s, char *err)
{
    acq_trial t;
    int units = acq_aligner_units(s->aligner);
    if (units <= 0)
        return 0;
    if (!s->counts) {
        s->counts = malloc(sizeof(float) * (size_t)units);
        s->rows.units = units;
        if (!s->counts)
            return controller_fail(err, "out of memory");
    }
    while (acq_aligner_next_complete_trial(s->aligner, &t, s->counts)) {
        if (rows_add(&s->rows, &t, s->counts))
            return controller_fail(err, "out of memory");
        s->rows.old_clock[s->rows.n - 1] = t.completed_ns <= s->clock_reset_ns;
        s->flagged += t.flags != 0;
        if (s->rows.n % 50 == 0)
            tell(s, ACQUIRE_TRIALS, 0.0);
    }
    return 0;
}

static int take_item(acquire_state *s, acq_receiver *from, int timeout_ms, char *err)
{
    acq_item *it;
    if (!acq_receiver_pop(from, &it, timeout_ms))
        return 0;
    char why[ACQ_ERR_SIZE];
    if (from == s->data) {
        s->last_data = it->received_ns;
        if (s->silent)
            tell(s, ACQUIRE_BACK, 0.0);
        s->silent = 0;
    }
    int r = acq_aligner_add_item(s->aligner, it, why);
    if (it->flags & ACQ_ITEM_CLOCK_RESET) { /* after the add: the old clock's trials are done */
        for (int i = 0; i < s->rows.n; i++)
            s->rows.old_clock[i] = 1;
        s->clock_reset_ns = acq_now_ns();
    }
    if (it->type == ACQ_ITEM_LOSS)
        flag_taken_rows(s, it->timestamp_ns, it->until_ns);
    acq_item_free(it);
    if (r == ACQ_REJECT_VALUE) { /* onsets pile up with no data to complete them */
        controller_fail(err, "%s", why);
        return -1;
    }
    return 1;
}

/* Open Ephys: bins on another rate than the stream's would be silently wrong. */
static int stream_rate_mismatch(const acquire_state *s, char *err)
{
    acq_stats st;
    acq_receiver_stats(s->data, &st);
    if (!st.rate_mismatch)
        return 0;
    return controller_fail(err, "the stream's data blocks say sample_rate %g Hz, but "
                           "--sample-rate is %g Hz: nothing binned; give the stream's rate",
                           st.stream_sample_rate, s->c->data.sample_rate);
}

static int receive_trials(acquire_state *s, const volatile sig_atomic_t *stop, char *err)
{
    int trials = s->c->trials;
    float timeout = s->c->timeout;
    int64_t start = acq_now_ns();
    s->last_data = start;
    while (!(stop && *stop) && (trials <= 0 || s->rows.n < trials)) {
        if (acq_now_ns() - start > (int64_t)((double)timeout * 1e9)) {
            tell(s, ACQUIRE_TIMED_OUT, (double)timeout);
            break;
        }
        /* Heartbeats come every second: 5 s of nothing means the publisher is gone. */
        if (!s->silent && acq_now_ns() - s->last_data > 5000000000LL) {
            tell(s, ACQUIRE_SILENT, 0.0);
            s->silent = 1;
        }
        if (stream_rate_mismatch(s, err))
            return 1;
        int got = 0, r;
        while ((r = take_item(s, s->onsets, 0, err)) > 0)
            got++;
        if (r < 0 || (r = take_item(s, s->data, got ? 0 : 5, err)) < 0)
            return 1;
        if (drain_trials(s, err))
            return 1;
    }
    if (trials <= 0 || s->rows.n < trials) {
        acq_aligner_finish(s->aligner);
        if (drain_trials(s, err))
            return 1;
    }
    return 0;
}

static void gather_result(const acquire_state *s, acquire_result *result)
{
    memset(result, 0, sizeof *result);
    result->trials = s->rows.n;
    result->flagged = s->flagged;
    result->flagged_late = s->flagged_late;
    acq_receiver_stats(s->data, &result->data);
    acq_aligner_clock(s->aligner, &result->clock);
    acq_receiver_stats(s->onsets, &result->onsets);
}

int acquire_run(const acquire_config *c, const volatile sig_atomic_t *stop,
                acquire_event_fn on_event, void *user, acquire_result *result, char *err)
{
    if (mkdir(c->out_dir, 0777) != 0 && errno != EEXIST)
        return controller_fail(err, "cannot create %s: %s", c->out_dir, strerror(errno));
    acq_receiver_config onsets = c->onsets;
    acq_align_config align = c->align;
    onsets.topic = "onset";
    if (align.history_ns < 2 * align.window_ns + 2000000000LL)
        align.history_ns = 2 * align.window_ns + 2000000000LL;
    acquire_state s;
    memset(&s, 0, sizeof s);
    s.c = c;
    s.on_event = on_event;
    s.user = user;
    int status = 1;
    if (acq_receiver_create(&s.data, NULL, &c->data, err) ||
        acq_receiver_create(&s.onsets, NULL, &onsets, err) ||
        acq_aligner_create(&s.aligner, &align, err))
        goto done;
    tell(&s, ACQUIRE_READY, 0.0);
    if (receive_trials(&s, stop, err) || rows_write(&s.rows, c->out_dir, err) ||
        unit_map_write(s.data, c->out_dir, err))
        goto done;
    gather_result(&s, result);
    status = 0;
done:
    acq_receiver_destroy(s.data);
    acq_receiver_destroy(s.onsets);
    acq_aligner_destroy(s.aligner);
    rows_free(&s.rows);
    free(s.counts);
    return status;
}
