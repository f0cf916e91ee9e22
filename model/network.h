/* network.h: the model's insides, shared by network.c (forward/backward),
 * train.c (fitting) and model_file.c (save/load). Private to the model
 * library. */
#ifndef INCEPTION_MODEL_NETWORK_H
#define INCEPTION_MODEL_NETWORK_H

#include "layers.h"
#include "model.h"

/* The smallest input standard deviation a model keeps (model_set_
 * standardization stores 1 for a smaller one; model_load refuses it). */
#define MODEL_INPUT_STD_MIN 1e-6f

typedef struct conv_layer {
    int cin, cout, k;
    /* views into model.params */
    float *weight, *bias, *gamma, *beta;
    /* views into model.buffers (saved, not trained) */
    float *running_mean, *running_var;
} conv_layer;

/* Activations and scratch for up to `capacity` images, made on first use so
 * that loading a model allocates only its parameters. */
typedef struct workspace {
    int capacity;
    conv_fft *fft[MODEL_MAX_LAYERS];
    float *input;                        /* standardized images, B×H×W */
    float *conv_out[MODEL_MAX_LAYERS];   /* B×C×HW */
    float *norm_out[MODEL_MAX_LAYERS];   /* B×C×HW, batch norm only */
    float *act[MODEL_MAX_LAYERS];        /* B×C×HW, ELU output */
    float *bn_mean[MODEL_MAX_LAYERS], *bn_rstd[MODEL_MAX_LAYERS];
    float *grad_a, *grad_b;              /* B×C×HW ping-pong for backward */
    float *grad_input;                   /* B×H×W */
    int *active_index, *active_count;    /* B×HW, B: sparse input gradients */
    unsigned char *active_scratch;       /* HW */
    float *positions;                    /* B×N×2 readout positions */
    float *noise;                        /* B×N×2 position noise ε */
    float *pooled;                       /* B×N×C, factorized readout */
    float *features;                     /* B×D, LNP features */
    float *grad_features;                /* B×D */
    float *linear;                       /* B×N, before the output nonlinearity */
    float *rate;                         /* B×N */
    float *grad_rate, *grad_linear;      /* B×N */
    float *grad_positions;               /* B×N×2 */
    float *dn_out, *dn_q, *dn_d;         /* B×C×HW each: divnorm output, pool, denominator */
    float *dn_scratch;                   /* divnorm_scratch_size */
    float *gabor_bank;                   /* D×HW, LNP with Gabor features */
} workspace;

struct model {
    model_config cfg;
    float input_mean, input_std;
    int threads;
    /* Which program wrote (or will write) the model file: "" when unknown
     * (a version-1 file, or none set). Kept through load and save. */
    char writer[MODEL_WRITER_MAX + 1];

    /* All trained parameters in one vector, so that Adam, save/load and the
     * early-stopping snapshot each see a single array. */
    float *params, *grads;
    size_t n_params;
    unsigned char *trainable; /* per parameter: 0 = frozen (random core) */
    /* State that is saved but not trained (batch-norm running statistics). */
    float *buffers;
    size_t n_buffers;

    conv_layer conv[MODEL_MAX_LAYERS];
    float *norm_weight, *norm_const; /* divnorm's w (C×C) and a (C): views into params */
    int lnp_dim; /* D: LNP feature count */
    float *lnp_feature_mean, *lnp_feature_scale; /* views into buffers, D each */
    /* readout views into params */
    float *readout_mu;     /* N×2, Gaussian */
    float *readout_sigma;  /* N, Gaussian */
    float *readout_mask;   /* N×HW, factorized */
    float *readout_weight; /* N×C (CNN) or N×D (LNP) */
    float *readout_bias;   /* N */

    int weights_changed; /* conv kernels must be re-transformed */
    workspace ws;
};

/* Count parameters and buffers of a configuration without allocating, so
 * model_load can check a file's size before trusting it. Returns 0 when the
 * configuration is invalid (reason in err). */
int model_config_validate(const model_config *c, char *err);
void model_config_sizes(const model_config *c, size_t *n_params, size_t *n_buffers);

/* Make sure the workspace holds `batch` images. */
int model_workspace_reserve(model *m, int batch, char *err);

/* One training step on a batch: forward in training mode, Poisson loss,
 * regularizers, backward; writes the gradient into m->grads (zeroed first).
 * Returns the mean Poisson loss per trial through *loss. */
int model_train_step(model *m, const float *images, const float *responses, int batch,
                     model_rng *rng, float laplace_weight, float l1_weight, double *loss,
                     char *err);

/* Set the LNP's feature standardization (mean, 1/std per feature) from a
 * set of images; a no-op for the CNN. */
int model_lnp_feature_statistics(model *m, const float *images, int count, char *err);

/* Call after changing m->params in place. */
void model_params_changed(model *m);

#endif
