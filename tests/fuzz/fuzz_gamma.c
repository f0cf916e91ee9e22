/* Fuzz target: any bytes must parse as a gamma calibration or be refused
 * with a reason, never crash; what parses must satisfy the format's rules,
 * and its inverse table must be monotone. */
#include "presenter/presenter.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gamma_calibration c;
    char err[STIMULUS_ERR_SIZE];
    if (gamma_parse((const char *)data, size, "fuzz", &c, err) == 0) {
        if (c.count < 2 || c.count > GAMMA_MAX_POINTS)
            __builtin_trap();
        for (int i = 1; i < c.count; i++)
            if (!(c.level[i] > c.level[i - 1]) || c.luminance[i] < c.luminance[i - 1])
                __builtin_trap();
        uint8_t table[GAMMA_TABLE_SIZE];
        gamma_inverse_table(&c, table);
        for (int i = 1; i < GAMMA_TABLE_SIZE; i++)
            if (table[i] < table[i - 1])
                __builtin_trap();
    } else if (memchr(err, '\0', STIMULUS_ERR_SIZE) == NULL) {
        __builtin_trap();
    }
    return 0;
}
