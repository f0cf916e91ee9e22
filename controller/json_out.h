/* json_out.h: the controller's one way of writing JSON (the manifests of
 * `inception mei` and `export`), on jansson (json_out.c). A document is built
 * with the calls below, then written whole.
 *
 * JSON has no NaN or infinity, and its text is UTF-8: a non-finite number
 * or a string that is not UTF-8 is refused with a message naming its key,
 * never written (jansson itself refuses to build either). An undefined
 * value that the format means to carry is said so explicitly with
 * json_out_real_or_null. The first refusal sticks: later calls do nothing,
 * and json_out_write reports it instead of writing. */

#ifndef INCEPTION_JSON_OUT_H
#define INCEPTION_JSON_OUT_H

#include <jansson.h>
#include <stdint.h>

#define JSON_OUT_ERR_SIZE 512

typedef struct json_out {
    json_t *root;                /* the document: an object */
    int failed;                  /* a value was refused or memory ran out */
    char err[JSON_OUT_ERR_SIZE]; /* the first refusal, one line */
} json_out;

/* A document with an empty object at its root; 1 when out of memory. */
int json_out_begin(json_out *o);
void json_out_end(json_out *o);

/* Each call adds one value to `parent`: under `key` when `parent` is an
 * object, appended when it is an array (then `key` only names the value in
 * a refusal). */
void json_out_real(json_out *o, json_t *parent, const char *key, double x);
/* A number where finite, null where the format says "undefined" (a metric
 * of a neuron without variance). */
void json_out_real_or_null(json_out *o, json_t *parent, const char *key, double x);
void json_out_int(json_out *o, json_t *parent, const char *key, int64_t x);
/* A 64-bit seed as a decimal string: JSON numbers above 2^53 are not read
 * exactly by every reader (RFC 8259 section 6), and jansson's integers stop
 * at 2^63. */
void json_out_seed(json_out *o, json_t *parent, const char *key, uint64_t x);
void json_out_bool(json_out *o, json_t *parent, const char *key, int x);
void json_out_text(json_out *o, json_t *parent, const char *key, const char *s);
void json_out_null(json_out *o, json_t *parent, const char *key);
/* A new object or array in `parent`, or NULL after a refusal (the calls
 * above accept a NULL parent and do nothing). */
json_t *json_out_object(json_out *o, json_t *parent, const char *key);
json_t *json_out_array(json_out *o, json_t *parent, const char *key);

/* Writes the document to `path` (2-space indent, 9 significant digits, a
 * float32 exactly); 0 on success, else 1 with the reason in o->err. */
int json_out_write(json_out *o, const char *path);

#endif
