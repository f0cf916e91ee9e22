/* Fuzz target: population.npy (the simulated population's config beside a
 * dataset) must give a config within range or be refused, never crash. */
#include "model.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sim_config c;
    char err[MODEL_ERR_SIZE];
    if (sim_config_parse(data, size, &c, err) == 0) {
        if (c.neurons < 1 || c.height < 1 || c.width < 1 || !(c.fraction_simple >= 0.0f) ||
            !(c.fraction_complex >= 0.0f) || !(c.fraction_conjunction >= 0.0f) ||
            !(c.fraction_energy_conjunction >= 0.0f) || !(c.fraction_end_stopped >= 0.0f) ||
            !(c.fraction_surround >= 0.0f) || !(c.fraction_curvature >= 0.0f) ||
            !(c.fraction_texture >= 0.0f) || !(c.fraction_deep >= 0.0f) ||
            c.fraction_simple + c.fraction_complex + c.fraction_conjunction +
                    c.fraction_energy_conjunction + c.fraction_end_stopped +
                    c.fraction_surround + c.fraction_curvature + c.fraction_texture +
                    c.fraction_deep > 1.0001f ||
            !(c.baseline_rate >= 0.0f && c.baseline_rate <= SIM_BASELINE_RATE_MAX) ||
            !(c.baseline_share >= 0.0f && c.baseline_share <= 1.0f))
            __builtin_trap();
    } else if (memchr(err, '\0', MODEL_ERR_SIZE) == NULL) {
        __builtin_trap();
    }
    return 0;
}
