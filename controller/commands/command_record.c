/* command_record.c: `inception record-dump DIR`: a session record as text,
 * one line per record, for debugging. Damage is listed where it is. */
#include "commands.h"
#include "controller.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char dump_help[] =
    "usage: inception record-dump DIR [--payload-bytes N]\n\n"
    "List a session record (DIR/session.rec, or a record file itself): one line\n"
    "per record with its offset, sequence, type, time and fields. Arrays show their\n"
    "shape and first values; text and bytes their length and start. Corrupt\n"
    "stretches and a torn tail are listed where they are. Exit 1 if any.\n\n"
    "  --payload-bytes N   characters of text fields to show (default 60)\n";

static void print_scalar(const record_field *f, size_t i)
{
    const unsigned char *at = f->data;
    int64_t q;
    uint64_t u;
    double d;
    float x;
    int32_t n;
    switch (f->dtype) {
    case RECORD_I64:
        memcpy(&q, at + 8 * i, 8), printf("%" PRId64, q);
        break;
    case RECORD_U64:
        memcpy(&u, at + 8 * i, 8), printf("%" PRIu64, u);
        break;
    case RECORD_F64:
        memcpy(&d, at + 8 * i, 8), printf("%.9g", d);
        break;
    case RECORD_F32:
        memcpy(&x, at + 4 * i, 4), printf("%.7g", x);
        break;
    case RECORD_I32:
        memcpy(&n, at + 4 * i, 4), printf("%d", n);
        break;
    case RECORD_U8:
        printf("%u", at[i]);
        break;
    }
}

static void print_text(const record_field *f, int limit)
{
    printf("\"");
    for (size_t i = 0; i < f->count && (int)i < limit; i++) {
        unsigned char c = ((const unsigned char *)f->data)[i];
        if (c == '\n')
            printf("\\n");
        else if (c < 32 || c == '"' || c == '\\')
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    printf("\"%s", f->count > (size_t)limit ? "..." : "");
}

static void print_field(const record_field *f, int limit)
{
    printf(" %s=", f->name);
    if (f->dtype == RECORD_TEXT) {
        print_text(f, limit);
    } else if (f->dtype == RECORD_BYTES) {
        printf("<%zu bytes>", f->count);
    } else if (f->ndim == 0) {
        print_scalar(f, 0);
    } else {
        printf("%c[", f->dtype);
        for (int d = 0; d < f->ndim; d++)
            printf("%s%u", d ? "x" : "", f->shape[d]);
        printf("](");
        for (size_t i = 0; i < f->count && i < 4; i++)
            printf("%s", i ? " " : ""), print_scalar(f, i);
        printf("%s)", f->count > 4 ? " ..." : "");
    }
}

static void print_record(const record_view *v, uint64_t start_ns, int limit)
{
    printf("%10" PRIu64 "  #%-7" PRIu64 " %-13s %+12.6f s", v->offset, v->sequence,
           record_type_name(v->type), ((double)v->time_ns - (double)start_ns) * 1e-9);
    size_t at = 0;
    record_field f;
    char err[CONTROLLER_ERR_SIZE];
    int status;
    while ((status = record_field_next(v->payload, v->length, &at, &f, err)) == 0)
        print_field(&f, limit);
    if (status < 0)
        printf(" [payload: %s]", err);
    printf("\n");
}

int command_record_dump(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(dump_help, stdout);
        return 0;
    }
    if (argc < 2 || !strncmp(argv[1], "--", 2)) {
        fprintf(stderr, "inception record-dump: expected a session DIR (see --help)\n");
        return 2;
    }
    cli_option options[] = {{"payload-bytes", 1, NULL}};
    int limit = 60;
    if (cli_parse("record-dump", argc - 1, argv + 1, options, COUNT(options)) ||
        cli_get_int(options, COUNT(options), "payload-bytes", 0, 1 << 20, &limit))
        return 2;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", argv[1], RECORD_FILE_NAME);
    FILE *probe = fopen(path, "rb");
    if (probe)
        fclose(probe);
    else
        snprintf(path, sizeof path, "%s", argv[1]);
    record_reader *r;
    char err[CONTROLLER_ERR_SIZE];
    if (record_reader_open(path, &r, err)) {
        fprintf(stderr, "inception record-dump: %s\n", err);
        return 1;
    }
    record_view v;
    int status, damaged = 0;
    uint64_t records = 0, start_ns = 0;
    while ((status = record_reader_next(r, &v, err)) != RECORD_NEXT_END) {
        if (status != RECORD_NEXT_OK) {
            printf("%10" PRIu64 "  %s: %s\n", v.offset,
                   status == RECORD_NEXT_TORN ? "TORN" : "CORRUPT", err);
            damaged++;
            continue;
        }
        if (records++ == 0)
            start_ns = v.time_ns;
        print_record(&v, start_ns, limit);
    }
    record_reader_close(r);
    printf("# %" PRIu64 " records, %d damaged stretches\n", records, damaged);
    return damaged ? 1 : 0;
}
