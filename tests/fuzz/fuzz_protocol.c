/* Fuzz target: any bytes must parse as a protocol or be refused with a
 * "FILE:LINE:COLUMN: message" reason, never crash. Parsed from memory with
 * no base folder, so nothing on disk is looked at. */
#include "controller.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    protocol *p;
    char err[CONTROLLER_ERR_SIZE];
    if (protocol_parse((const char *)data, size, "fuzz.yaml", NULL, &p, err) == 0) {
        /* A parsed protocol describes itself without reading out of bounds. */
        for (int i = 0; i < protocol_setting_count(); i++) {
            protocol_setting s;
            protocol_setting_get(p, i, &s);
            if (!memchr(s.value, '\0', sizeof s.value))
                __builtin_trap();
        }
        if (p->text_size != size || p->timing.stimulus_frames < 1)
            __builtin_trap();
        protocol_destroy(p);
    } else if (!memchr(err, '\0', CONTROLLER_ERR_SIZE) || strncmp(err, "fuzz.yaml:", 10)) {
        __builtin_trap(); /* every refusal names the file and a line */
    }
    return 0;
}
