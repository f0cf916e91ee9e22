/* fuzz_display.c: the remote display's message parser on any bytes. What
 * decodes must encode back to the same bytes (the format has no slack except
 * the reserved fields and text padding, which the corpus keeps at zero; for
 * anything else only the absence of a crash is asserted). */
#include "controller.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    display_message m;
    char err[CONTROLLER_ERR_SIZE];
    if (display_message_decode(data, size, &m, err))
        return 0;
    size_t n = display_message_size(&m);
    uint8_t *again = malloc(n ? n : 1);
    if (!again)
        return 0;
    if (display_message_encode(&m, again, n) != n || n != size)
        abort(); /* a decoded message always re-encodes to its own length */
    display_message twice;
    if (display_message_decode(again, n, &twice, err) || twice.type != m.type)
        abort();
    free(again);
    return 0;
}
