/* fit_worker.c: the model fitted in the background while natural images are
 * still being shown (run_internal.h). */
#include "run_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A growing trial list: what the run loop hands in. */
typedef struct trial_list {
    float *images, *responses;
    uint8_t *tiers;
    int64_t *ids;
    int count;
    size_t capacity;
} trial_list;

struct fit_worker {
    model_config mc;
    fit_options fo;
    int round_epochs;
    run_sched sched; /* what the fit thread does to its own scheduling first */
    int have_sched;
    pthread_t thread;
    int started;

    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t wake;
    trial_list trials;
    int stop;
    int rounds;
    int64_t trial_epochs; /* training trials × epochs fitted, over all rounds: the work done */
    double validation_corr, train_loss; /* the latest epoch's */
    fit_worker_round *history;          /* each finished round, in order */
    int history_count;
    size_t history_capacity;
    char error[MODEL_ERR_SIZE];
    int failed;

    model *m; /* the fit thread's alone until it is joined */
};

static int list_grow(trial_list *l, int pixels, int neurons)
{
    if ((size_t)l->count < l->capacity)
        return 0;
    size_t cap = grow_capacity_for(l->capacity, l->capacity + 1, 512);
    if (grow_resize(&l->images, cap, (size_t)pixels * sizeof(float)) ||
        grow_resize(&l->responses, cap, (size_t)neurons * sizeof(float)) ||
        grow_resize(&l->tiers, cap, sizeof *l->tiers) ||
        grow_resize(&l->ids, cap, sizeof *l->ids))
        return 1;
    l->capacity = cap;
    return 0;
}

static void list_free(trial_list *l)
{
    free(l->images);
    free(l->responses);
    free(l->tiers);
    free(l->ids);
    memset(l, 0, sizeof *l);
}

/* A dataset holding the first `count` trials of the list (a copy). */
static int list_to_dataset(const trial_list *l, int count, const model_config *mc, dataset *d)
{
    int P = mc->height * mc->width, N = mc->neurons;
    if (dataset_alloc(d, count, mc->height, mc->width, N))
        return 1;
    memcpy(d->images, l->images, (size_t)count * (size_t)P * sizeof(float));
    memcpy(d->responses, l->responses, (size_t)count * (size_t)N * sizeof(float));
    memcpy(d->tiers, l->tiers, (size_t)count);
    memcpy(d->image_ids, l->ids, (size_t)count * sizeof(int64_t));
    return 0;
}

/* Enough to fit: a few batches of training trials and some validation trials. */
static int fit_ready(const fit_worker *w, int count, int last)
{
    int train = 0, val = 0;
    for (int i = 0; i < count; i++) {
        train += w->trials.tiers[i] == TIER_TRAIN;
        val += w->trials.tiers[i] == TIER_VALIDATION;
    }
    /* A new round when the data grew by a tenth since the last one. */
    return train >= 4 * w->fo.batch_size && val >= 10 && count >= last + last / 10 + 1;
}

static void on_epoch(const fit_progress *p, void *user)
{
    fit_worker *w = user;
    pthread_mutex_lock(&w->lock);
    w->validation_corr = p->validation_corr;
    w->train_loss = p->train_loss;
    pthread_mutex_unlock(&w->lock);
}

/* The round just finished into the history (under the lock); out of memory
 * leaves it out, which fit_worker_round's caller sees as fewer rounds. */
static void remember_round(fit_worker *w, int trials)
{
    if (grow_array(&w->history, &w->history_capacity, (size_t)w->history_count + 1,
                        sizeof *w->history, 64))
        return;
    w->history[w->history_count++] = (fit_worker_round){w->rounds, trials, w->train_loss,
                                                        w->validation_corr};
}

/* One round: fit the warm model on a snapshot for a few epochs. */
static int fit_round(fit_worker *w, const dataset *d, char *err)
{
    if (!w->m && model_create(&w->m, &w->mc, err))
        return 1;
    model_set_threads(w->m, w->fo.threads);
    fit_options fo = w->fo;
    fo.max_epochs = w->round_epochs;
    fo.progress = on_epoch;
    fo.user = w;
    fit_report rep;
    if (model_fit(w->m, d, &fo, &rep, err))
        return 1;
    int64_t train = 0;
    for (int i = 0; i < d->trials; i++)
        train += d->tiers[i] == TIER_TRAIN;
    pthread_mutex_lock(&w->lock);
    w->trial_epochs += train * rep.epochs;
    pthread_mutex_unlock(&w->lock);
    return 0;
}

static void *fit_thread(void *arg)
{
    fit_worker *w = arg;
    int last = 0;
    if (w->have_sched)
        run_sched_enter_fit_thread(&w->sched);
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->stop && !fit_ready(w, w->trials.count, last)) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1;
            pthread_cond_timedwait(&w->wake, &w->lock, &until);
        }
        if (w->stop)
            break;
        int count = w->trials.count;
        dataset d;
        int bad = list_to_dataset(&w->trials, count, &w->mc, &d);
        pthread_mutex_unlock(&w->lock);
        char err[MODEL_ERR_SIZE] = "out of memory for a fit snapshot";
        if (!bad) {
            bad = fit_round(w, &d, err);
            dataset_free(&d);
        }
        pthread_mutex_lock(&w->lock);
        if (bad) {
            w->failed = 1;
            snprintf(w->error, sizeof w->error, "background fit: %s", err);
            break;
        }
        w->rounds++;
        remember_round(w, count);
        last = count;
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int fit_worker_create(fit_worker **out, const model_config *mc, const fit_options *fo,
                      int round_epochs, const run_sched *sched, char *err)
{
    fit_worker *w = calloc(1, sizeof *w);
    if (!w)
        return controller_fail(err, "out of memory for the fit worker");
    w->mc = *mc;
    w->fo = *fo;
    w->round_epochs = round_epochs;
    if (sched) {
        w->sched = *sched;
        w->have_sched = 1;
    }
    w->validation_corr = w->train_loss = NAN;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    if (pthread_create(&w->thread, NULL, fit_thread, w)) {
        controller_fail(err, "cannot start the fit thread");
        fit_worker_destroy(w);
        return 1;
    }
    w->started = 1;
    *out = w;
    return 0;
}

int fit_worker_add(fit_worker *w, const float *image, const float *counts, int tier,
                   int64_t image_id)
{
    int P = w->mc.height * w->mc.width, N = w->mc.neurons, status = 0;
    pthread_mutex_lock(&w->lock);
    trial_list *l = &w->trials;
    if (list_grow(l, P, N)) {
        status = 1;
    } else {
        memcpy(l->images + (size_t)l->count * (size_t)P, image, (size_t)P * sizeof(float));
        memcpy(l->responses + (size_t)l->count * (size_t)N, counts, (size_t)N * sizeof(float));
        l->tiers[l->count] = (uint8_t)tier;
        l->ids[l->count] = image_id;
        l->count++;
        pthread_cond_signal(&w->wake);
    }
    pthread_mutex_unlock(&w->lock);
    return status;
}

int fit_worker_round_at(fit_worker *w, int index, fit_worker_round *out)
{
    pthread_mutex_lock(&w->lock);
    int have = index >= 0 && index < w->history_count;
    if (have)
        *out = w->history[index];
    pthread_mutex_unlock(&w->lock);
    return !have;
}

int64_t fit_worker_trial_epochs(fit_worker *w)
{
    pthread_mutex_lock(&w->lock);
    int64_t n = w->trial_epochs;
    pthread_mutex_unlock(&w->lock);
    return n;
}

void fit_worker_status(fit_worker *w, int *rounds, double *validation_corr)
{
    pthread_mutex_lock(&w->lock);
    *rounds = w->rounds;
    *validation_corr = w->validation_corr;
    pthread_mutex_unlock(&w->lock);
}

static void stop_and_join(fit_worker *w)
{
    if (!w->started)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    w->started = 0;
}

int fit_worker_finish(fit_worker *w, model **warm, dataset *all, char *err)
{
    stop_and_join(w);
    if (w->failed)
        return controller_fail(err, "%s", w->error);
    if (list_to_dataset(&w->trials, w->trials.count, &w->mc, all))
        return controller_fail(err, "out of memory for the dataset");
    *warm = w->m;
    w->m = NULL;
    return 0;
}

void fit_worker_destroy(fit_worker *w)
{
    if (!w)
        return;
    stop_and_join(w);
    list_free(&w->trials);
    free(w->history);
    model_destroy(w->m);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->wake);
    free(w);
}
