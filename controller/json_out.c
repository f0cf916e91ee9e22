/* json_out.c: manifests written through jansson (json_out.h). */
#include "json_out.h"
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void refuse(json_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void refuse(json_out *o, const char *fmt, ...)
{
    if (o->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->err, sizeof o->err, fmt, ap);
    va_end(ap);
    o->failed = 1;
}

int json_out_begin(json_out *o)
{
    memset(o, 0, sizeof *o);
    o->root = json_object();
    if (!o->root)
        refuse(o, "out of memory for a JSON document");
    return o->failed;
}

void json_out_end(json_out *o)
{
    json_decref(o->root);
    o->root = NULL;
}

/* Puts `value` (a new reference, NULL when jansson could not make it) into
 * `parent`; `why` says what a NULL value means. */
static void put(json_out *o, json_t *parent, const char *key, json_t *value, const char *why)
{
    if (o->failed || !parent) {
        json_decref(value);
        return;
    }
    if (!value) {
        refuse(o, "%s: %s", key, why);
        return;
    }
    int r = json_is_array(parent) ? json_array_append_new(parent, value)
                                  : json_object_set_new(parent, key, value);
    if (r)
        refuse(o, "%s: cannot be added (out of memory, or a key that is not UTF-8)", key);
}

void json_out_real(json_out *o, json_t *parent, const char *key, double x)
{
    if (!isfinite(x)) {
        refuse(o, "%s is %g: JSON has no non-finite numbers", key, x);
        return;
    }
    put(o, parent, key, json_real(x), "out of memory");
}

void json_out_real_or_null(json_out *o, json_t *parent, const char *key, double x)
{
    put(o, parent, key, isfinite(x) ? json_real(x) : json_null(), "out of memory");
}

void json_out_int(json_out *o, json_t *parent, const char *key, int64_t x)
{
    put(o, parent, key, json_integer((json_int_t)x), "out of memory");
}

void json_out_seed(json_out *o, json_t *parent, const char *key, uint64_t x)
{
    char text[24];
    snprintf(text, sizeof text, "%" PRIu64, x);
    put(o, parent, key, json_string(text), "out of memory");
}

void json_out_bool(json_out *o, json_t *parent, const char *key, int x)
{
    put(o, parent, key, json_boolean(x), "out of memory");
}

void json_out_text(json_out *o, json_t *parent, const char *key, const char *s)
{
    put(o, parent, key, json_string(s), "not UTF-8 text, which JSON cannot hold");
}

void json_out_null(json_out *o, json_t *parent, const char *key)
{
    put(o, parent, key, json_null(), "out of memory");
}

static json_t *put_container(json_out *o, json_t *parent, const char *key, json_t *c)
{
    put(o, parent, key, json_incref(c), "out of memory");
    json_decref(c); /* `parent` holds it now, when it was added */
    return o->failed ? NULL : c;
}

json_t *json_out_object(json_out *o, json_t *parent, const char *key)
{
    return put_container(o, parent, key, json_object());
}

json_t *json_out_array(json_out *o, json_t *parent, const char *key)
{
    return put_container(o, parent, key, json_array());
}

int json_out_write(json_out *o, const char *path)
{
    if (o->failed)
        return 1;
    char *text = json_dumps(o->root, JSON_INDENT(2) | JSON_REAL_PRECISION(9));
    if (!text) {
        refuse(o, "%s: out of memory for its text", path);
        return 1;
    }
    FILE *f = fopen(path, "w");
    int bad = !f || fputs(text, f) < 0 || fputc('\n', f) == EOF;
    if (f && fclose(f))
        bad = 1;
    free(text);
    if (bad)
        refuse(o, "%s: cannot write", path);
    return bad;
}
