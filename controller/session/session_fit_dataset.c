/* session_fit_dataset.c: `inception fit` and `inception evaluate` as library
 * calls (session.h, "A dataset's fit and evaluation"): a dataset folder read,
 * a model fitted and saved or read, and the test trials' metrics summarized
 * for the command to print. */
#include "session/session.h"

#include <stdlib.h>
#include <string.h>

static void tell(session_fit_dataset_event_fn on_event, void *user,
                 const session_fit_dataset_event *e)
{
    if (on_event)
        on_event(e, user);
}

/* dataset_load, then the images shrunk by `downsample`. */
static int load_dataset(const char *dir, int downsample, dataset *d, char *err)
{
    char merr[MODEL_ERR_SIZE];
    if (dataset_load(dir, d, merr))
        return controller_fail(err, "%s", merr);
    if (dataset_downsample(d, downsample, merr)) {
        dataset_free(d);
        return controller_fail(err, "%s: %s", dir, merr);
    }
    return 0;
}

/* The per-neuron test metrics summarized column by column, the FEVE once
 * more over the neurons the population mean keeps, and by cell type when
 * data_dir holds a simulated population's types. */
static int summarize_test(model *m, const dataset *d, const char *data_dir,
                          session_test_summary *out, char *err)
{
    memset(out, 0, sizeof *out);
    int N = d->neurons;
    out->neurons = N;
    out->trials = dataset_count_tier(d, TIER_TEST);
    if (out->trials < 2)
        return 0;
    neuron_metrics *nm = malloc((size_t)N * sizeof *nm);
    float *column = malloc((size_t)N * sizeof(float));
    int status = 1;
    if (!nm || !column) {
        controller_fail(err, "out of memory for test metrics");
        goto done;
    }
    if (session_fit_evaluate_tier(m, d, TIER_TEST, nm, &out->trials, err))
        goto done;
#define SUMMARIZE(field)                                                                     \
    do {                                                                                      \
        for (int i = 0; i < N; i++)                                                           \
            column[i] = nm[i].field;                                                          \
        metrics_summarize(column, N, &out->field);                                            \
    } while (0)
    SUMMARIZE(single_trial_corr);
    SUMMARIZE(corr_to_average);
    SUMMARIZE(oracle);
    SUMMARIZE(fev);
    SUMMARIZE(feve);
#undef SUMMARIZE
    for (int i = 0; i < N; i++)
        if (metrics_feve_counts(&nm[i]))
            column[out->kept++] = nm[i].feve;
    metrics_summarize(column, out->kept, &out->feve_kept);
    uint8_t *types = sim_cell_types_read(data_dir, N);
    if (types) {
        out->has_cell_types = 1;
        metrics_by_cell_type(nm, types, N, out->by_type);
        free(types);
    }
    status = 0;
done:
    free(nm);
    free(column);
    return status;
}

typedef struct fit_events {
    session_fit_dataset_event_fn on_event;
    void *user;
} fit_events;

static void on_epoch(const fit_progress *p, void *user)
{
    const fit_events *f = user;
    tell(f->on_event, f->user,
         &(session_fit_dataset_event){.stage = SESSION_FIT_DATASET_EPOCH, .epoch = p});
}

int session_fit_dataset(const session_fit_dataset_settings *s, session_fit_dataset_event_fn on_event,
                        void *user, fit_report *report, session_test_summary *test, char *err)
{
    dataset d;
    if (load_dataset(s->data_dir, s->downsample, &d, err))
        return 1;
    model_config c = s->model;
    c.height = d.height;
    c.width = d.width;
    c.neurons = d.neurons;
    char merr[MODEL_ERR_SIZE];
    model *m;
    if (model_create(&m, &c, merr)) {
        dataset_free(&d);
        return controller_fail(err, "%s", merr);
    }
    tell(on_event, user,
         &(session_fit_dataset_event){.stage = SESSION_FIT_DATASET_BUILT, .data = &d,
                                      .config = &c, .parameters = model_parameter_count(m)});
    fit_events events = {on_event, user};
    fit_options f = s->fit;
    f.progress = on_epoch;
    f.user = &events;
    int status = 1;
    if (model_fit(m, &d, &f, report, merr) ||
        model_set_writer(m, inception_version_string(), merr) ||
        model_save(m, s->out_path, merr)) {
        controller_fail(err, "%s", merr);
        goto done;
    }
    tell(on_event, user,
         &(session_fit_dataset_event){.stage = SESSION_FIT_DATASET_SAVED, .report = report});
    status = summarize_test(m, &d, s->data_dir, test, err);
done:
    model_destroy(m);
    dataset_free(&d);
    return status;
}

int session_evaluate_dataset(const char *model_path, const char *data_dir, int downsample,
                             int threads, session_fit_dataset_event_fn on_event, void *user,
                             session_test_summary *test, char *err)
{
    char merr[MODEL_ERR_SIZE];
    model *m;
    if (model_load(&m, model_path, merr))
        return controller_fail(err, "%s", merr);
    model_set_threads(m, threads);
    tell(on_event, user,
         &(session_fit_dataset_event){.stage = SESSION_FIT_DATASET_MODEL_READ,
                                      .writer = model_writer(m)});
    dataset d;
    if (load_dataset(data_dir, downsample, &d, err)) {
        model_destroy(m);
        return 1;
    }
    const model_config *c = model_get_config(m);
    int status;
    if (d.height != c->height || d.width != c->width || d.neurons != c->neurons)
        status = controller_fail(err,
                                 "%s has %d×%d images and %d neurons; the model expects "
                                 "%d×%d and %d",
                                 data_dir, d.height, d.width, d.neurons, c->height, c->width,
                                 c->neurons);
    else
        status = summarize_test(m, &d, data_dir, test, err);
    model_destroy(m);
    dataset_free(&d);
    return status;
}
