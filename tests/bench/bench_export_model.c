/* bench_export_model: write the reference model (3 layers × 32 channels,
 * kernels 9/7/7, Gaussian readout, 1,000 neurons, 36×64 input) with random
 * weights to argv[1], for timing `inception export` (bench_export.sh). */
#include "model.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bench_export_model OUT.bin\n");
        return 2;
    }
    model_config c;
    model_config_default(&c);
    char err[MODEL_ERR_SIZE];
    model *m;
    if (model_create(&m, &c, err) || model_save(m, argv[1], err)) {
        fprintf(stderr, "bench_export_model: %s\n", err);
        return 1;
    }
    model_destroy(m);
    return 0;
}
