/* controller.h: the controller library's one public header. It includes the
 * rooms' headers, each holding what its folder does:
 *   - protocol/protocol.h: protocol files (YAML), parsed and schema-checked;
 *   - report/report.h: evaluation statistics and the session report;
 *   - session/session.h: run, resume, replay's fit and synthesis, stream replay;
 *   - display/display.h: the remote display and the run loop's one display interface;
 *   - mei/mei_batch.h: `inception mei`'s batch of MEIs, controls, files and ground truth;
 *     mei/mei_search.h: `inception search`'s model-free search against the simulated population;
 *   - export/export.h: `inception export`'s co-training targets from an image set;
 *   - acquire/acquire.h: `inception acquire`'s stream and onsets aligned into trials × neurons;
 *   - rig/virtual_rig.h: the virtual rig (acquisition system and animal) and its loop;
 *   - present/present.h: `inception present`'s showing and --serve loop, calibrate's session;
 * and, below, the session record: an append-only, checksummed, crash-safe
 * file of typed records holding everything a session saw and did
 * (controller/record/, its header record.h; the format is documented in
 * controller/record/RECORD.md).
 *
 * Conventions: functions return 0 on success and non-zero on failure, with a
 * one-line reason in `err` (CONTROLLER_ERR_SIZE bytes). Nothing here prints.
 * Structs are owned by whoever called their _create/_load/_open and freed
 * with the matching _destroy/_close. */
#ifndef INCEPTION_CONTROLLER_H
#define INCEPTION_CONTROLLER_H

#include <stddef.h>
#include <stdint.h>

#include "controller_util.h"
#include "protocol/protocol.h"

/* ------------------------------------------------------------------------
 * SHA-256 (sha256.c, FIPS 180-4): equal to `sha256sum` and hashlib.sha256.
 * ------------------------------------------------------------------------ */

#define SHA256_SIZE 32
typedef struct sha256_context {
    uint32_t h[8];
    unsigned char block[64];
    size_t used;
    uint64_t bytes;
} sha256_context;
void sha256_init(sha256_context *s);
void sha256_update(sha256_context *s, const void *data, size_t size);
void sha256_final(sha256_context *s, uint8_t digest[SHA256_SIZE]);
void sha256_of(const void *data, size_t size, uint8_t digest[SHA256_SIZE]);
/* Lower-case hex, NUL-terminated. */
void sha256_hex(const uint8_t digest[SHA256_SIZE], char out[2 * SHA256_SIZE + 1]);

/* ------------------------------------------------------------------------
 * Session record (controller/record/record.h)
 * ------------------------------------------------------------------------ */

#include "record/record.h"

/* Which build this is (controller/version.c): the project version ("0.1.0"), the git
 * description baked in at build time (the version without git), and both as
 * "inception 0.1.0 (DESCRIPTION)", what `inception --version` prints and session_start,
 * the export and MEI manifests record. */
const char *inception_version(void);
const char *inception_build(void);
const char *inception_version_string(void);

/* The rooms that build on the record (session.h includes this header first,
 * so the record is declared before it). */
#include "report/report.h"
#include "session/session.h"
#include "display/display.h"
#include "mei/mei_batch.h"
#include "mei/mei_search.h"
#include "export/export.h"
#include "acquire/acquire.h"
#include "rig/virtual_rig.h"
#include "present/present.h"

#endif
