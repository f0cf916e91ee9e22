/* mei_batch_files.c: a batch's files (mei_batch.h): one PNG per stimulus,
 * stimuli.npy (K × H × W float32), manifest.json and gallery.png. */
#include "controller.h"
#include "json_out.h"
#include "mei_batch_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The models the predictions come from: predicted_response is their mean. */
static void manifest_models(json_out *o, const mei_batch *b)
{
    json_t *models = json_out_array(o, o->root, "models");
    for (int m = 0; m < b->c.n_models; m++)
        json_out_text(o, models, "models (a model file's path)", b->c.models[m]);
    json_out_text(o, o->root, "predictions_from",
                  b->c.n_models > 1 ? "mean of the models" : "the model");
}

/* The first number of stimulus (j, slot) the manifest would print that is
 * not finite, named in `what`; 0 when all are. JSON has no NaN or infinity,
 * so such a manifest is refused, never written. */
static int stimulus_numbers_finite(const mei_batch *b, int j, int slot, const char **what)
{
    const float *x = mei_batch_stimulus(b, j, slot);
    int M = b->c.n_models;
    *what = !isfinite(b->predicted[(size_t)j * b->K + slot]) ? "predicted response"
          : !isfinite(stimulus_rms_contrast(x, b->P))           ? "contrast"
          : !isfinite(stimulus_mean(x, b->P))                   ? "mean"
          : slot == MEI_BATCH_SLOT_MEI && !isfinite(b->results[j].start_agreement)
              ? "start agreement"
              : NULL;
    for (int m = 0; !*what && M > 1 && m < M; m++)
        if (!isfinite(b->by_model[((size_t)j * b->K + slot) * M + m]))
            *what = "prediction of a member model";
    return !*what;
}

static int manifest_numbers_finite(const mei_batch *b, char *err)
{
    if (!isfinite(b->budget.mean_luminance) || !isfinite(b->budget.contrast)) {
        controller_fail(err, "the budget (mean luminance %g, contrast %g) is not finite: no "
                             "manifest written", (double)b->budget.mean_luminance,
                        (double)b->budget.contrast);
        return 0;
    }
    for (int j = 0; j < b->count; j++)
        for (int slot = 0; slot < b->K; slot++) {
            const char *what;
            if (b->present[(size_t)j * b->K + slot] &&
                !stimulus_numbers_finite(b, j, slot, &what)) {
                controller_fail(err, "neuron %d, %s: the %s is not finite: no manifest written",
                                b->neurons[j], b->kind_names[slot], what);
                return 0;
            }
        }
    return 1;
}

/* One stimulus' entry in the manifest. */
static void manifest_stimulus(json_out *o, json_t *list, const mei_batch *b, int k, int j,
                              int slot, const char *file)
{
    const float *x = mei_batch_stimulus(b, j, slot);
    int set_slot = slot >= MEI_BATCH_SLOTS && b->diverse; /* an image of a diverse set */
    const mei_result *res = set_slot
        ? &b->diverse_results[(size_t)j * b->diverse + slot - MEI_BATCH_SLOTS] : &b->results[j];
    int synthesized = slot == MEI_BATCH_SLOT_MEI || set_slot;
    json_t *s = json_out_object(o, list, "stimuli");
    json_out_int(o, s, "index", k);
    json_out_int(o, s, "neuron", b->neurons[j]);
    json_out_text(o, s, "kind", b->kind_names[slot]);
    json_out_text(o, s, "file", file);
    json_out_real(o, s, "predicted_response", b->predicted[(size_t)j * b->K + slot]);
    json_out_real(o, s, "contrast", stimulus_rms_contrast(x, b->P));
    json_out_real(o, s, "mean", stimulus_mean(x, b->P));
    json_out_seed(o, s, "seed", synthesized ? res->seed : b->o.seed);
    json_out_int(o, s, "steps", synthesized ? res->steps : 0);
    if (set_slot) {
        json_out_int(o, s, "set_size", b->diverse);
        json_out_real(o, s, "set_correlation", res->start_agreement);
    }
    if (slot >= MEI_BATCH_SLOTS && b->region) { /* the mask: the neuron's classical RF */
        const mei_mask_result *m = &b->masks[j];
        json_out_real(o, s, "mask_x", m->mask.x);
        json_out_real(o, s, "mask_y", m->mask.y);
        json_out_real(o, s, "mask_radius", m->mask.radius);
        json_out_real(o, s, "mask_area", m->area);
        json_out_real(o, s, "mask_kept", m->response / m->mei_response);
        if (slot > MEI_BATCH_SLOTS)
            json_out_text(o, s, "surround", slot == MEI_BATCH_SLOTS + 1 ? "most" : "least");
    }
    if (slot == MEI_BATCH_SLOT_MEI) {
        json_out_int(o, s, "starts", b->o.starts);
        json_out_real(o, s, "start_agreement", res->start_agreement);
    }
    if (b->c.n_models > 1) {
        json_t *by = json_out_array(o, s, "predicted_by_model");
        for (int m = 0; m < b->c.n_models; m++)
            json_out_real(o, by, "predicted_by_model",
                          b->by_model[((size_t)j * b->K + slot) * b->c.n_models + m]);
    }
}

int mei_batch_write_files(mei_batch *b, char *err)
{
    if (!manifest_numbers_finite(b, err))
        return 1;
    const char *dir = b->c.out_dir;
    char path[4096];
    int K = 0;
    for (int i = 0; i < b->count * b->K; i++)
        K += b->present[i];
    float *all = malloc((size_t)K * b->P * sizeof(float));
    json_out o;
    if (!all || json_out_begin(&o)) {
        free(all);
        return controller_fail(err, "out of memory for the manifest");
    }
    json_out_text(&o, o.root, "inception_version", inception_version_string());
    json_out_int(&o, o.root, "height", b->H);
    json_out_int(&o, o.root, "width", b->W);
    json_out_real(&o, o.root, "mean_luminance", b->budget.mean_luminance);
    json_out_real(&o, o.root, "contrast_budget", b->budget.contrast);
    manifest_models(&o, b);
    json_t *list = json_out_array(&o, o.root, "stimuli");
    int k = 0, status = 0;
    for (int j = 0; j < b->count && !status; j++)
        for (int slot = 0; slot < b->K && !status; slot++) {
            if (!b->present[(size_t)j * b->K + slot])
                continue;
            const float *x = mei_batch_stimulus(b, j, slot);
            memcpy(all + (size_t)k * b->P, x, b->P * sizeof(float));
            char name[64];
            snprintf(name, sizeof name, "n%04d_%s.png", b->neurons[j], b->kind_names[slot]);
            snprintf(path, sizeof path, "%s/%s", dir, name);
            status = png_write_gray(path, x, b->H, b->W, err);
            manifest_stimulus(&o, list, b, k, j, slot, name);
            k++;
        }
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    if (!status && json_out_write(&o, path))
        status = controller_fail(err, "%s not written: %s", path, o.err);
    json_out_end(&o);
    snprintf(path, sizeof path, "%s/stimuli.npy", dir);
    int64_t shape[3] = {K, b->H, b->W};
    if (!status)
        status = npy_write(path, NPY_FLOAT32, 3, shape, all, err);
    free(all);
    return status;
}

int mei_batch_write_gallery(const mei_batch *b, char *err)
{
    int cols = 0;
    int used[MEI_BATCH_SLOTS + MEI_BATCH_MAX_DIVERSE];
    for (int slot = 0; slot < b->K; slot++)
        if (b->present[slot])
            used[cols++] = slot;
    gallery_tile *tiles = calloc((size_t)b->count * cols, sizeof *tiles);
    char (*labels)[24] = calloc((size_t)b->count * cols, sizeof *labels);
    char (*rows)[16] = calloc((size_t)b->count, sizeof *rows);
    const char **row_ptr = calloc((size_t)b->count, sizeof *row_ptr);
    char path[4096];
    int status = 1;
    if (!tiles || !labels || !rows || !row_ptr) {
        controller_fail(err, "out of memory for the gallery");
        goto done;
    }
    for (int j = 0; j < b->count; j++) {
        snprintf(rows[j], sizeof rows[j], "N%d", b->neurons[j]);
        row_ptr[j] = rows[j];
        for (int c = 0; c < cols; c++) {
            int slot = used[c], t = j * cols + c;
            snprintf(labels[t], sizeof labels[t], "%s %.2f", b->kind_labels[slot],
                     b->predicted[(size_t)j * b->K + slot]);
            tiles[t] = (gallery_tile){mei_batch_stimulus(b, j, slot), labels[t]};
        }
    }
    snprintf(path, sizeof path, "%s/gallery.png", b->c.out_dir);
    status = gallery_write_png(path, tiles, row_ptr, b->count, cols, b->H, b->W, 2, err);
done:
    free(tiles);
    free(labels);
    free(rows);
    free(row_ptr);
    return status;
}
