/* report_data_search.c: the model-free search phase's records read into
 * the report's session_data (docs/search.md): its images and their
 * generations (first pass), the evaluations it handed over with the ground
 * truth beside them, and in the second pass each search trial's count of its
 * target and the handed-over images' pixels. Drawn by report_search.c. */
#include "report_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static search_target *find_search_target(session_data *d, int64_t neuron, int create)
{
    for (int i = 0; i < d->search_target_count; i++)
        if (d->search_targets[i].neuron == neuron)
            return &d->search_targets[i];
    if (!create || grow_array(&d->search_targets, &d->search_target_capacity,
                              (size_t)d->search_target_count + 1, sizeof *d->search_targets, 8))
        return NULL;
    search_target *t = &d->search_targets[d->search_target_count++];
    memset(t, 0, sizeof *t);
    t->neuron = neuron;
    t->best_id = -1;
    t->best_mean = t->truth_search = t->truth_mei = t->truth_natural = NAN;
    t->truth_least = t->truth_least_natural = NAN;
    return t;
}

/* A search image. The record does not say which generation asked for it:
 * the run records each generation's images before its block, per target in
 * the order the search asked for them, and a resumed run records none again
 * (RECORD.md), so a target's n-th search stimulus in record order is of
 * generation n / population_size, as `inception resume` itself reads them.
 * Without the protocol's population the generations are left unknown (-1);
 * a count that does not fit the protocol is said on the page. */
int report_gather_search_image(session_data *d, const record_stimulus *st)
{
    search_target *t = find_search_target(d, st->neuron, 1);
    if (!t || grow_array(&d->search_images, &d->search_image_capacity,
                         (size_t)d->search_image_count + 1, sizeof *d->search_images, 64))
        return 1;
    search_image *s = &d->search_images[d->search_image_count++];
    memset(s, 0, sizeof *s);
    s->id = st->stimulus_id;
    s->neuron = st->neuron;
    s->generation = d->search_population > 0 ? t->images / d->search_population : -1;
    t->images++;
    return 0;
}

/* The search phase's evaluations (RECORD.md): per target the image handed
 * over and its mean, with the virtual rig the ground truth beside the MEI's
 * and the best natural training image's (a least search: the least exciting
 * input's and least natural training image's), and the truth's summaries. */
int report_gather_search_evaluation(session_data *d, const record_evaluation *e)
{
    if (e->neuron < 0) /* the truth's summaries: report_data.c's gather_summary */
        return 0;
    static const char *const kinds[] = {"search_best_stimulus", "search_best_mean",
                                         "truth_search_best", "truth_mei",
                                         "truth_best_natural_training", "truth_least",
                                         "truth_least_natural_training"};
    int known = 0;
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        known |= !strcmp(e->kind, kinds[i]);
    if (!known)
        return 0;
    /* Any order: a target is the search's when it has search images or a
     * handed-over image (a session without the search records truth_mei
     * too; its targets are not drawn in the search's section). */
    search_target *t = find_search_target(d, e->neuron, 1);
    if (!t)
        return 1;
    int handed = !strcmp(e->kind, "search_best_stimulus");
    if (handed)
        t->best_id = isfinite(e->mean) && fabs(e->mean) < 9e15 ? (int64_t)e->mean : -1;
    else if (!strcmp(e->kind, "search_best_mean"))
        t->best_mean = e->mean;
    else if (!strcmp(e->kind, "truth_search_best"))
        t->truth_search = e->mean;
    else if (!strcmp(e->kind, "truth_mei"))
        t->truth_mei = e->mean;
    else if (!strcmp(e->kind, "truth_best_natural_training"))
        t->truth_natural = e->mean;
    else if (!strcmp(e->kind, "truth_least"))
        t->truth_least = e->mean;
    else if (!strcmp(e->kind, "truth_least_natural_training"))
        t->truth_least_natural = e->mean;
    return 0;
}

int report_compare_search_image(const void *a, const void *b)
{
    int64_t x = ((const search_image *)a)->id, y = ((const search_image *)b)->id;
    return (x > y) - (x < y);
}

/* A search trial's count of its image's target, unless flagged (a flagged
 * trial never reached the search's fitness either). */
void report_gather_search_trial(session_data *d, const record_trial *r, int64_t flags)
{
    search_image key = {.id = r->image_id};
    search_image *s = d->search_image_count && flags == 0
                          ? bsearch(&key, d->search_images, (size_t)d->search_image_count,
                                    sizeof *d->search_images, report_compare_search_image)
                          : NULL;
    if (s && s->neuron >= 0 && s->neuron < r->neurons && isfinite(r->counts[s->neuron])) {
        s->sum += r->counts[s->neuron];
        s->trials++;
    }
}

/* The handed-over search images' pixels (only they are kept: a search
 * shows thousands of images per target). */
int report_gather_search_best(session_data *d, const record_view *v)
{
    record_stimulus st;
    char err[CONTROLLER_ERR_SIZE];
    if (record_stimulus_read(v, &st, err))
        return 0;
    size_t count = (size_t)st.height * (size_t)st.width;
    search_target *t = strcmp(st.kind, STIMULUS_KIND_NAME_SEARCH) || count == 0
                           ? NULL
                           : find_search_target(d, st.neuron, 0);
    int status = 0;
    if (t && t->best_id == st.stimulus_id && !t->best.pixels) {
        stimulus_image *b = &t->best;
        b->id = st.stimulus_id;
        b->neuron = st.neuron;
        b->predicted = st.predicted;
        snprintf(b->kind, sizeof b->kind, "%s", st.kind);
        b->height = st.height, b->width = st.width;
        b->pixels = report_copy_floats(st.pixels, count);
        status = !b->pixels;
    }
    free(st.decoded);
    return status;
}
