/* session_record.c: the append-only session record (format: RECORD.md).
 *
 * Each record is written to the file with one pwrite as soon as it is
 * appended, so a killed process loses nothing it appended: the kernel holds
 * the bytes. fsync makes them survive a power cut too; it runs at phase
 * boundaries (session_record_sync, on the caller's thread) and at least once
 * a second when the run loop calls session_record_tick. A failed write (disk
 * full) is cut back off the file so that the record always ends on a whole
 * record.
 *
 * The once-a-second fsync runs on a thread of its own (the syncer): on a
 * busy disk an fsync takes tens of milliseconds, and the thread that calls
 * session_record_tick is the one that receives and aligns the stream, where
 * a trial's counts are wanted within 2 ms. The hand-off is one place
 * (request_sync): a single pending request, "make everything up to sequence
 * N durable", which a newer request replaces (the queue is bounded at one;
 * a later fsync covers all an earlier one would have). Why that is as safe
 * as the fsync it replaces:
 *   - the bytes: pwrite still happens on the appending thread before append
 *     returns, so a kill loses nothing, exactly as before; the syncer never
 *     holds record bytes of its own;
 *   - durable_sequence: a request carries the sequence written when it was
 *     made, before its fsync starts, and fsync covers every write that
 *     returned before it began, so durable_sequence never claims a record
 *     that is not on disk;
 *   - a power cut loses at most the records written since the last fsync
 *     that finished: about a second plus one fsync's duration, as before
 *     (then the fsync also blocked the appender for its duration);
 *   - a failed background fsync is reported by the next tick, sync or close
 *     (the run stops on it, as it did when tick failed itself);
 *   - stop: session_record_close lets the syncer finish its request, joins
 *     it, then fsyncs on the caller's thread: nothing written is left
 *     undurable when close returns 0.
 * session_record_sync stays synchronous: a phase boundary or a checkpoint
 * must be durable before the run goes on.
 *
 * The reader walks records, checks each CRC, and resynchronizes on the next
 * valid record after damage: damage followed by valid records is "corrupt"
 * (reported, skipped), damage running to the end of the file is a torn tail
 * (what a kill during a write leaves; cut on resume). */
#include "controller.h"
#include "record_crc.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

_Static_assert(RECORD_SHA256_SIZE == SHA256_SIZE, "record.h's digest size is SHA-256's");

uint64_t record_monotonic_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint64_t realtime_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

const char *record_type_name(int type)
{
    const record_schema *schema = record_schema_of(type);
    return schema ? schema->name : "unknown";
}

/* ---- header ---- */

static void put_le(unsigned char *at, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        at[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *at, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | at[i];
    return v;
}

/* ---- writer ---- */

static record_payload *scratch(struct session_record *w);

struct session_record {
    int fd;
    char path[4096];
    uint64_t size;             /* bytes of whole records in the file */
    uint64_t next_sequence;
    uint64_t written_sequence; /* last appended (in the kernel) */
    _Atomic uint64_t durable_sequence; /* last fsync'd (the syncer raises it too) */
    uint64_t last_sync_ns;     /* the last fsync started or asked for (appender's thread) */
    /* The syncer (see the top): started by the first tick that needs it. */
    pthread_t syncer;
    int syncer_started;
    pthread_mutex_t sync_lock;
    pthread_cond_t sync_wake;
    uint64_t sync_request;     /* fsync up to this sequence; 0 none pending */
    int sync_stop;
    int sync_errno;            /* a background fsync failed with this; 0 none */
    int failed;                /* a write failed: no more appends */
    unsigned char *buffer;     /* one record being assembled */
    size_t capacity;
    record_payload scratch;    /* for the typed helpers */
};

static session_record *writer_alloc(const char *dir)
{
    session_record *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->fd = -1;
    w->next_sequence = 1;
    pthread_mutex_init(&w->sync_lock, NULL);
    pthread_cond_init(&w->sync_wake, NULL);
    snprintf(w->path, sizeof w->path, "%s/%s", dir, RECORD_FILE_NAME);
    record_payload_init(&w->scratch);
    return w;
}

static void stop_syncer(session_record *w);

static void writer_free(session_record *w)
{
    if (!w)
        return;
    stop_syncer(w);
    pthread_mutex_destroy(&w->sync_lock);
    pthread_cond_destroy(&w->sync_wake);
    if (w->fd >= 0)
        close(w->fd);
    free(w->buffer);
    record_payload_free(&w->scratch);
    free(w);
}

/* The folder's entry for the file must be durable too. */
static int sync_directory(const char *dir, char *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return controller_fail(err, "%s: cannot sync the folder: %s", dir, strerror(e));
    }
    close(fd);
    return 0;
}

static void raise_durable(session_record *w, uint64_t sequence)
{
    uint64_t d = atomic_load(&w->durable_sequence);
    while (d < sequence && !atomic_compare_exchange_weak(&w->durable_sequence, &d, sequence))
        ;
}

static void *syncer_main(void *arg)
{
    session_record *w = arg;
    pthread_mutex_lock(&w->sync_lock);
    for (;;) {
        while (!w->sync_request && !w->sync_stop)
            pthread_cond_wait(&w->sync_wake, &w->sync_lock);
        if (!w->sync_request) /* stopping, nothing asked */
            break;
        uint64_t upto = w->sync_request;
        w->sync_request = 0;
        pthread_mutex_unlock(&w->sync_lock);
        int failed = fsync(w->fd) != 0, e = errno;
        pthread_mutex_lock(&w->sync_lock);
        if (failed && !w->sync_errno)
            w->sync_errno = e;
        if (!failed)
            raise_durable(w, upto);
    }
    pthread_mutex_unlock(&w->sync_lock);
    return NULL;
}

/* Lets a pending request finish, then joins the syncer. */
static void stop_syncer(session_record *w)
{
    if (!w->syncer_started)
        return;
    pthread_mutex_lock(&w->sync_lock);
    w->sync_stop = 1;
    pthread_cond_signal(&w->sync_wake);
    pthread_mutex_unlock(&w->sync_lock);
    pthread_join(w->syncer, NULL);
    w->syncer_started = 0;
}

/* A background fsync's failure, reported once on the appender's thread. */
static int syncer_failed(session_record *w, char *err)
{
    pthread_mutex_lock(&w->sync_lock);
    int e = w->sync_errno;
    pthread_mutex_unlock(&w->sync_lock);
    return e ? controller_fail(err, "%s: fsync: %s", w->path, strerror(e)) : 0;
}

int session_record_sync(session_record *w, char *err)
{
    if (syncer_failed(w, err))
        return 1;
    uint64_t upto = w->written_sequence;
    if (atomic_load(&w->durable_sequence) == upto)
        return 0;
    if (fsync(w->fd) != 0)
        return controller_fail(err, "%s: fsync: %s", w->path, strerror(errno));
    raise_durable(w, upto);
    w->last_sync_ns = record_monotonic_ns();
    return 0;
}

/* The one hand-off to the syncer: everything written so far, made durable
 * off this thread. Without a thread (none could start) it fsyncs here. */
static int request_sync(session_record *w, char *err)
{
    if (!w->syncer_started) {
        /* Normal priority whatever the caller's: an fsync has no deadline,
         * and a real-time appender (run_sched_aligning) must not lend it its. */
        pthread_attr_t attr;
        struct sched_param normal = {.sched_priority = 0};
        pthread_attr_init(&attr);
        pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
        pthread_attr_setschedpolicy(&attr, SCHED_OTHER);
        pthread_attr_setschedparam(&attr, &normal);
        w->sync_stop = 0;
        w->syncer_started = pthread_create(&w->syncer, &attr, syncer_main, w) == 0;
        pthread_attr_destroy(&attr);
        if (!w->syncer_started)
            return session_record_sync(w, err);
    }
    pthread_mutex_lock(&w->sync_lock);
    w->sync_request = w->written_sequence;
    pthread_cond_signal(&w->sync_wake);
    pthread_mutex_unlock(&w->sync_lock);
    w->last_sync_ns = record_monotonic_ns();
    return 0;
}

int session_record_tick(session_record *w, char *err)
{
    if (syncer_failed(w, err))
        return 1;
    if (atomic_load(&w->durable_sequence) == w->written_sequence)
        return 0;
    if (record_monotonic_ns() - w->last_sync_ns < 1000000000u)
        return 0;
    return request_sync(w, err);
}

uint64_t session_record_durable_sequence(const session_record *w)
{
    return atomic_load(&((session_record *)w)->durable_sequence);
}

uint64_t session_record_next_sequence(const session_record *w)
{
    return w->next_sequence;
}

static int write_all(int fd, const unsigned char *data, size_t size, uint64_t offset)
{
    while (size > 0) {
        ssize_t n = pwrite(fd, data, size, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = ENOSPC;
            return 1;
        }
        data += n;
        size -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

static int assemble(session_record *w, int type, const record_payload *payload, uint64_t time_ns)
{
    size_t total = RECORD_HEADER_SIZE + payload->size + RECORD_TRAILER_SIZE;
    if (total > w->capacity) {
        unsigned char *grown = realloc(w->buffer, total);
        if (!grown)
            return 1;
        w->buffer = grown;
        w->capacity = total;
    }
    unsigned char *h = w->buffer;
    put_le(h, RECORD_MAGIC, 4);
    put_le(h + 4, RECORD_FORMAT_VERSION, 2);
    put_le(h + 6, (uint64_t)type, 2);
    put_le(h + 8, payload->size, 4);
    put_le(h + 12, w->next_sequence, 8);
    put_le(h + 20, time_ns, 8);
    if (payload->size)
        memcpy(h + RECORD_HEADER_SIZE, payload->data, payload->size);
    uint32_t crc = (uint32_t)crc32_z(0, h, RECORD_HEADER_SIZE + payload->size);
    put_le(h + RECORD_HEADER_SIZE + payload->size, crc, 4);
    return 0;
}

static int append_at(session_record *w, int type, const record_payload *payload,
                     uint64_t time_ns, uint64_t *sequence, char *err)
{
    if (w->failed)
        return controller_fail(err, "%s: an earlier write failed; the record is closed for writing",
                    w->path);
    if (payload->failed || payload->size > RECORD_MAX_PAYLOAD || type <= 0 || type > 0xffff)
        return controller_fail(err, "%s: bad record (type %s, or a field could not be encoded)", w->path,
                    record_type_name(type));
    if (assemble(w, type, payload, time_ns))
        return controller_fail(err, "%s: out of memory", w->path);
    size_t total = RECORD_HEADER_SIZE + payload->size + RECORD_TRAILER_SIZE;
    if (write_all(w->fd, w->buffer, total, w->size)) {
        int e = errno;
        /* Cut whatever part landed, so the file ends on a whole record. */
        if (ftruncate(w->fd, (off_t)w->size) == 0)
            fsync(w->fd);
        w->failed = 1;
        return controller_fail(err, "%s: write failed, session record stopped: %s", w->path, strerror(e));
    }
    w->size += total;
    w->written_sequence = w->next_sequence;
    if (sequence)
        *sequence = w->next_sequence;
    w->next_sequence++;
    return 0;
}

int session_record_append(session_record *w, int type, const record_payload *payload,
                          uint64_t *sequence, char *err)
{
    return append_at(w, type, payload, record_monotonic_ns(), sequence, err);
}

int session_record_copy(session_record *w, const record_view *v, char *err)
{
    record_payload p = {(unsigned char *)v->payload, v->length, v->length, 0};
    return append_at(w, v->type, &p, v->time_ns, NULL, err);
}

/* A new record file in `dir` whose first record is `start` at `time_ns`. */
static int create_with(const char *dir, const record_payload *start, uint64_t time_ns,
                       session_record **out, char *err)
{
    *out = NULL;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return controller_fail(err, "%s: cannot create the session folder: %s", dir, strerror(errno));
    session_record *w = writer_alloc(dir);
    if (!w)
        return controller_fail(err, "%s: out of memory", dir);
    w->fd = open(w->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        int e = errno;
        writer_free(w);
        return controller_fail(err, e == EEXIST ? "%s: holds a session record already (%s)"
                                     : "%s: cannot create the record: %s",
                    dir, e == EEXIST ? "resume it or choose another folder" : strerror(e));
    }
    if (append_at(w, RECORD_SESSION_START, start, time_ns, NULL, err) ||
        session_record_sync(w, err) || sync_directory(dir, err)) {
        unlink(w->path);
        writer_free(w);
        return 1;
    }
    *out = w;
    return 0;
}

/* The protocol's bytes verbatim, as BYTES: a file may hold anything. */
static record_session_start start_values(const char *protocol_name, const char *protocol_text,
                                         size_t protocol_size)
{
    return (record_session_start){
        .format_version = RECORD_FORMAT_VERSION,
        .protocol_name = protocol_name,
        .unix_ns = realtime_ns(),
        .protocol_text = protocol_text,
        .protocol_size = protocol_size,
        .inception_version = inception_version_string(),
    };
}

static int create_from(const char *dir, const record_session_start *start, session_record **out,
                       char *err)
{
    record_payload p;
    record_payload_init(&p);
    record_encode(record_schema_of(RECORD_SESSION_START), start, &p);
    int status = create_with(dir, &p, record_monotonic_ns(), out, err);
    record_payload_free(&p);
    return status;
}

int session_record_create(const char *dir, const char *protocol_name, const char *protocol_text,
                          size_t protocol_size, session_record **out, char *err)
{
    record_session_start start = start_values(protocol_name, protocol_text, protocol_size);
    return create_from(dir, &start, out, err);
}

int session_record_create_for(const char *dir, const protocol *pr, session_record **out,
                              char *err)
{
    record_session_start start = start_values(pr->name, pr->text, pr->text_size);
    /* Written even when unset (""): a resume tells "none" from "older record". */
    start.protocol_dir = pr->dir;
    start.images_path = pr->images.path;
    start.gamma_file = pr->display.gamma_file;
    return create_from(dir, &start, out, err);
}

int session_record_create_copy(const char *dir, const record_view *start, session_record **out,
                               char *err)
{
    *out = NULL;
    if (start->type != RECORD_SESSION_START)
        return controller_fail(err, "%s: a record must start with session_start", dir);
    record_payload p = {(unsigned char *)start->payload, start->length, start->length, 0};
    return create_with(dir, &p, start->time_ns, out, err);
}

/* ---- reader ---- */

struct record_reader {
    const unsigned char *data;
    size_t size, offset;
    void *mapped; /* mmap of the file, NULL for memory */
    size_t mapped_size;
    record_crc_index *crc_index; /* from the first damage on, for resync */
    size_t crc_base;             /* the offset the index starts at */
};

int record_reader_open_memory(const void *data, size_t size, record_reader **out, char *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return controller_fail(err, "out of memory");
    (*out)->data = data;
    (*out)->size = size;
    return 0;
}

int record_reader_open(const char *path, record_reader **out, char *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return controller_fail(err, "%s: %s", path, strerror(e));
    }
    void *map = NULL;
    if (st.st_size > 0) {
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            return controller_fail(err, "%s: cannot map: %s", path, strerror(e));
        }
    }
    close(fd);
    if (record_reader_open_memory(map, (size_t)st.st_size, out, err)) {
        if (map)
            munmap(map, (size_t)st.st_size);
        return 1;
    }
    (*out)->mapped = map;
    (*out)->mapped_size = (size_t)st.st_size;
    return 0;
}

void record_reader_close(record_reader *r)
{
    if (!r)
        return;
    record_crc_index_destroy(r->crc_index);
    if (r->mapped)
        munmap(r->mapped, r->mapped_size);
    free(r);
}

/* Could a whole record start at `at` (magic, version, a length inside the
 * file)? Returns NULL if so, or why not. */
static const char *check_header(const record_reader *r, size_t at, uint32_t *length)
{
    size_t left = r->size - at;
    const unsigned char *h = r->data + at;
    if (left < RECORD_HEADER_SIZE + RECORD_TRAILER_SIZE)
        return "a record header cut short";
    if (get_le(h, 4) != RECORD_MAGIC)
        return "no record magic";
    if (get_le(h + 4, 2) == 0 || get_le(h + 4, 2) > RECORD_FORMAT_VERSION)
        return "an unknown format version";
    *length = (uint32_t)get_le(h + 8, 4);
    if (*length > RECORD_MAX_PAYLOAD ||
        *length > left - RECORD_HEADER_SIZE - RECORD_TRAILER_SIZE)
        return "a record running past the end of the file";
    return NULL;
}

static uint32_t stored_crc(const record_reader *r, size_t at, uint32_t length)
{
    return (uint32_t)get_le(r->data + at + RECORD_HEADER_SIZE + length, 4);
}

/* Is there a whole, valid record at `at`? Returns NULL if so, or why not. */
static const char *check_record(const record_reader *r, size_t at, uint32_t *length)
{
    const char *why = check_header(r, at, length);
    if (!why && (uint32_t)crc32_z(0, r->data + at, RECORD_HEADER_SIZE + *length) !=
                    stored_crc(r, at, *length))
        why = "a CRC mismatch";
    return why;
}

/* The next offset after `from` where a valid record starts, or r->size.
 * Every magic is a candidate, and each may claim a length up to the end of
 * the file: their CRCs come from the prefix index (record_crc.h), so a
 * stretch of crafted headers costs linear time, not quadratic. Without
 * memory for the index, the bytes are read for each (slow, still right). */
static size_t resync(record_reader *r, size_t from)
{
    static const unsigned char magic[4] = {'I', 'R', 'E', 'C'};
    if (!r->crc_index) { /* the reader only moves forward: later resyncs start later */
        r->crc_base = from;
        r->crc_index = record_crc_index_create(r->data + from, r->size - from);
    }
    assert(!r->crc_index || from >= r->crc_base);
    for (size_t at = from; at + 4 <= r->size; at++) {
        const unsigned char *found = memchr(r->data + at, magic[0], r->size - at);
        if (!found)
            break;
        at = (size_t)(found - r->data);
        uint32_t length;
        if (r->size - at < 4 || memcmp(found, magic, 4) || check_header(r, at, &length))
            continue;
        size_t end = at + RECORD_HEADER_SIZE + length;
        uint32_t crc = r->crc_index ? record_crc_index_range(r->crc_index, at - r->crc_base,
                                                             end - r->crc_base)
                                    : (uint32_t)crc32_z(0, found, end - at);
        if (crc == stored_crc(r, at, length))
            return at;
    }
    return r->size;
}

int record_reader_next(record_reader *r, record_view *out, char *err)
{
    memset(out, 0, sizeof *out);
    if (r->offset >= r->size)
        return RECORD_NEXT_END;
    size_t at = r->offset;
    uint32_t length = 0;
    const char *why = check_record(r, at, &length);
    if (why) {
        size_t next = resync(r, at + 1);
        r->offset = next;
        controller_fail(err, "offset %zu: %zu damaged bytes (%s)%s", at, next - at, why,
                        next == r->size ? ", to the end of the file: a torn tail" : "");
        out->offset = at;
        return next == r->size ? RECORD_NEXT_TORN : RECORD_NEXT_CORRUPT;
    }
    const unsigned char *h = r->data + at;
    out->offset = at;
    out->version = (int)get_le(h + 4, 2);
    out->type = (int)get_le(h + 6, 2);
    out->length = length;
    out->sequence = get_le(h + 12, 8);
    out->time_ns = get_le(h + 20, 8);
    out->payload = h + RECORD_HEADER_SIZE;
    r->offset = at + RECORD_HEADER_SIZE + length + RECORD_TRAILER_SIZE;
    return RECORD_NEXT_OK;
}

int record_reader_each(record_reader *r, record_visit visit, void *ctx, record_walk *walk,
                       char *err)
{
    record_walk counts = {0, 0};
    record_view v;
    char why[CONTROLLER_ERR_SIZE];
    int next, status = 0;
    while (!status && (next = record_reader_next(r, &v, why)) != RECORD_NEXT_END) {
        if (next != RECORD_NEXT_OK) {
            counts.damaged++;
            continue;
        }
        counts.records++;
        status = visit(&v, ctx, err);
    }
    if (walk)
        *walk = counts;
    return status;
}

int session_record_each(const char *dir, record_visit visit, void *ctx, record_walk *walk,
                        char *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, RECORD_FILE_NAME);
    record_reader *r;
    if (record_reader_open(path, &r, err))
        return 1;
    int status = record_reader_each(r, visit, ctx, walk, err);
    record_reader_close(r);
    return status;
}

/* ---- resume ---- */

/* Walks the whole record: counts, last sequence, where the valid part ends. */
static int scan_for_resume(const char *path, record_resume_report *report, char *err)
{
    record_reader *r;
    if (record_reader_open(path, &r, err))
        return 1;
    size_t file_size = r->size;
    uint64_t end = 0;
    record_view v;
    char why[CONTROLLER_ERR_SIZE];
    int status, first_type = 0;
    while ((status = record_reader_next(r, &v, why)) != RECORD_NEXT_END) {
        if (status == RECORD_NEXT_OK) {
            if (report->records == 0)
                first_type = v.type;
            report->records++;
            report->last_sequence = v.sequence;
            end = v.offset + RECORD_HEADER_SIZE + v.length + RECORD_TRAILER_SIZE;
        } else if (status == RECORD_NEXT_CORRUPT) {
            if (report->corrupt++ == 0)
                report->first_corrupt_offset = v.offset;
        }
    }
    record_reader_close(r);
    report->kept_bytes = end;
    report->cut_bytes = file_size - end;
    if (report->records == 0 || first_type != RECORD_SESSION_START)
        return controller_fail(err, "%s: no session start record: not a session (or damaged at its "
                         "start)", path);
    return 0;
}

int session_record_resume(const char *dir, session_record **out, record_resume_report *report,
                          char *err)
{
    *out = NULL;
    memset(report, 0, sizeof *report);
    session_record *w = writer_alloc(dir);
    if (!w)
        return controller_fail(err, "%s: out of memory", dir);
    if (scan_for_resume(w->path, report, err)) {
        writer_free(w);
        return 1;
    }
    w->fd = open(w->path, O_WRONLY | O_CLOEXEC);
    if (w->fd < 0 || (report->cut_bytes && ftruncate(w->fd, (off_t)report->kept_bytes) != 0) ||
        fsync(w->fd) != 0) {
        int e = errno;
        writer_free(w);
        return controller_fail(err, "%s: cannot reopen to resume: %s", dir, strerror(e));
    }
    w->size = report->kept_bytes;
    w->written_sequence = report->last_sequence;
    atomic_store(&w->durable_sequence, report->last_sequence);
    w->next_sequence = report->last_sequence + 1;
    w->last_sync_ns = record_monotonic_ns();
    *out = w;
    return 0;
}

int session_record_close(session_record *w, char *err)
{
    if (!w)
        return 0;
    stop_syncer(w);
    int status = w->failed ? 0 : session_record_sync(w, err);
    writer_free(w);
    return status;
}

/* ---- typed records: each a struct encoded by its table (record_schema.c) ---- */

static record_payload *scratch(session_record *w)
{
    record_payload_reset(&w->scratch);
    return &w->scratch;
}

static int append_typed(session_record *w, int type, const void *values, uint64_t *sequence,
                        char *err)
{
    record_payload *p = scratch(w);
    record_encode(record_schema_of(type), values, p);
    return session_record_append(w, type, p, sequence, err);
}

int session_record_phase(session_record *w, const char *phase, const char *event, char *err)
{
    record_phase ph = {phase, event, realtime_ns(), NULL};
    /* A phase boundary is where durability is promised. */
    return append_typed(w, RECORD_PHASE, &ph, NULL, err) || session_record_sync(w, err);
}

int session_record_note(session_record *w, const char *text, char *err)
{
    record_note n = {.text = text};
    return append_typed(w, RECORD_NOTE, &n, NULL, err);
}

int session_record_note_fields(session_record *w, const record_note *n, char *err)
{
    return append_typed(w, RECORD_NOTE, n, NULL, err);
}

int session_record_fit_round(session_record *w, const record_fit_round *r, char *err)
{
    char text[96];
    snprintf(text, sizeof text, "%s fit, round %lld", r->fit, (long long)r->round);
    record_note n = {.text = text, .fit_round = *r};
    return append_typed(w, RECORD_NOTE, &n, NULL, err);
}

int session_record_schedule(session_record *w, const record_schedule_entry *e, char *err)
{
    return append_typed(w, RECORD_SCHEDULE, e, NULL, err);
}

int session_record_flip(session_record *w, const record_flip_event *f, char *err)
{
    return append_typed(w, RECORD_FLIP, f, NULL, err);
}

int session_record_stream(session_record *w, const record_stream_message *m, char *err)
{
    return append_typed(w, RECORD_STREAM, m, NULL, err);
}

int session_record_sync_event(session_record *w, const record_sync_event *s, char *err)
{
    return append_typed(w, RECORD_SYNC, s, NULL, err);
}

/* Sample numbers as the first and int32 differences (4 bytes a spike, not
 * 8: spikes come in sample order within a few samples), or plain int64
 * when a difference does not fit (a clock jump). */
int session_record_spikes(session_record *w, const record_spikes *s, char *err)
{
    if (s->count < 1)
        return controller_fail(err, "%s: a spikes record without spikes", w->path);
    int32_t *delta = malloc((size_t)s->count * sizeof *delta);
    if (!delta)
        return controller_fail(err, "%s: out of memory", w->path);
    int fits = 1;
    for (int i = 0; i < s->count && fits; i++) {
        int64_t d = i ? s->sample_num[i] - s->sample_num[i - 1] : 0;
        fits = d >= INT32_MIN && d <= INT32_MAX;
        delta[i] = (int32_t)d;
    }
    record_spikes form = *s;
    form.first_sample = fits ? s->sample_num[0] : 0;
    form.sample_delta = fits ? delta : NULL;
    form.sample_num = fits ? NULL : s->sample_num;
    int status = append_typed(w, RECORD_SPIKES, &form, NULL, err);
    free(delta);
    return status;
}

int session_record_trial_flags(session_record *w, const record_trial_flags *c, char *err)
{
    return append_typed(w, RECORD_TRIAL_FLAGS, c, NULL, err);
}

int session_record_alignment(session_record *w, const record_alignment *a, char *err)
{
    return append_typed(w, RECORD_ALIGNMENT, a, NULL, err);
}

int session_record_trial(session_record *w, const record_trial *t, uint64_t *sequence,
                         char *err)
{
    return append_typed(w, RECORD_TRIAL, t, sequence, err);
}

static unsigned char *read_whole(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *data = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n <= (long)RECORD_MAX_PAYLOAD / 2 &&
        fseek(f, 0, SEEK_SET) == 0) {
        data = malloc(n ? (size_t)n : 1);
        if (data && fread(data, 1, (size_t)n, f) != (size_t)n) {
            free(data);
            data = NULL;
        }
    }
    fclose(f);
    *size = n > 0 ? (size_t)n : 0;
    return data;
}

int session_record_checkpoint(session_record *w, const char *model_path, int64_t epoch,
                              double validation_corr, char *err)
{
    size_t size;
    unsigned char *bytes = read_whole(model_path, &size);
    if (!bytes)
        return controller_fail(err, "%s: cannot read the model file to record it", model_path);
    const char *base = strrchr(model_path, '/');
    record_checkpoint c = {base ? base + 1 : model_path, epoch, validation_corr, bytes, size, NULL};
    int status = append_typed(w, RECORD_CHECKPOINT, &c, NULL, err);
    free(bytes);
    return status;
}

int session_record_stimulus(session_record *w, const record_stimulus *s, char *err)
{
    uint8_t digest[SHA256_SIZE];
    record_stimulus hashed = *s;
    record_pixels_sha256(s->pixels, s->height, s->width, digest);
    hashed.pixels_sha256 = digest;
    return append_typed(w, RECORD_STIMULUS, &hashed, NULL, err);
}

void record_pixels_sha256(const float *pixels, int height, int width,
                          uint8_t digest[SHA256_SIZE])
{
    /* The payload holds floats as they are in memory: little-endian hosts only
     * (record_payload.c), so these are the bytes of the `pixels` field. */
    size_t n = height > 0 && width > 0 ? (size_t)height * (size_t)width : 0;
    sha256_of(n ? (const void *)pixels : "", n * sizeof(float), digest);
}

int session_record_evaluation(session_record *w, const record_evaluation *e, char *err)
{
    return append_typed(w, RECORD_EVALUATION, e, NULL, err);
}

int session_record_model_metrics(session_record *w, const record_model_metrics *m, char *err)
{
    if (m->neurons < 0 || (m->neurons > 0 && !m->correlation))
        return controller_fail(err, "%s: model metrics need a correlation per neuron", w->path);
    return append_typed(w, RECORD_MODEL_METRICS, m, NULL, err);
}
