/* test_record_kill.c: kill -9 at random moments loses nothing acknowledged.
 *
 * A child process resumes (or starts) a session and appends trial records
 * without end, now and then a large stimulus record (so a kill can land in
 * the middle of a long write), syncing every few records and then writing the
 * last durable trial number to a pipe: those are the acknowledged trials. The
 * parent SIGKILLs it after a random delay, 25 times; after each kill it
 * reopens for resume and checks that every acknowledged trial is in the
 * record with its exact counts, trials are contiguous from 0, sequences
 * increase by one, nothing is damaged after the cut, and the tail is clean. */
#include "controller.h"
#include "test.h"
#include "test_files.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NEURONS 50
#define ROUNDS 25
#define BIG_PIXELS (256 * 256)

static float count_value(int64_t trial, int neuron)
{
    return (float)((trial * 31 + neuron * 17) % 23);
}

/* The trial to continue from: one past the last trial in the record. */
static int64_t next_trial(const char *dir)
{
    char path[4200], err[CONTROLLER_ERR_SIZE];
    snprintf(path, sizeof path, "%s/%s", dir, RECORD_FILE_NAME);
    record_reader *r;
    record_view v;
    int64_t next = 0;
    record_trial t;
    if (record_reader_open(path, &r, err))
        return 0;
    while (record_reader_next(r, &v, err) != RECORD_NEXT_END)
        if (v.payload && v.type == RECORD_TRIAL && !record_trial_read(&v, &t, err)) {
            next = t.trial + 1;
            free(t.decoded);
        }
    record_reader_close(r);
    return next;
}

static void child_append_forever(const char *dir, int ack_fd, int first_round)
{
    char err[CONTROLLER_ERR_SIZE];
    session_record *w;
    record_resume_report report;
    const char *text = "name: kill-test\n";
    if (first_round ? session_record_create(dir, "kill-test", text, strlen(text), &w, err)
                    : session_record_resume(dir, &w, &report, err))
        _exit(3);
    float counts[NEURONS];
    float *big = calloc(BIG_PIXELS, sizeof *big);
    if (!big)
        _exit(4);
    for (int64_t trial = next_trial(dir);; trial++) {
        for (int n = 0; n < NEURONS; n++)
            counts[n] = count_value(trial, n);
        record_trial t = {.trial = trial, .image_id = trial % 1000, .onset_ns = 0,
                          .neurons = NEURONS, .counts = counts};
        if (session_record_trial(w, &t, NULL, err))
            _exit(5);
        if (trial % 7 == 3) {
            record_stimulus s = {.stimulus_id = trial, .neuron = 0, .kind = "big", .height = 256,
                                 .width = 256, .pixels = big, .predicted = 0};
            if (session_record_stimulus(w, &s, err))
                _exit(6);
        }
        if (trial % 5 == 4) {
            if (session_record_sync(w, err))
                _exit(7);
            if (write(ack_fd, &trial, sizeof trial) != (ssize_t)sizeof trial)
                _exit(8);
        }
    }
}

typedef struct round_result {
    int64_t acknowledged; /* highest acknowledged trial, -1 none */
    int64_t trials;       /* trials in the record after resume */
    uint64_t cut_bytes;
    int intact;           /* every trial 0..trials-1 present once with its counts */
    int sequences_ok;
    int clean_tail;
} round_result;

static void verify(const char *dir, round_result *out)
{
    char path[4200], err[CONTROLLER_ERR_SIZE];
    snprintf(path, sizeof path, "%s/%s", dir, RECORD_FILE_NAME);
    record_reader *r;
    record_view v;
    int status;
    uint64_t expected_sequence = 1;
    out->trials = 0;
    out->intact = out->sequences_ok = out->clean_tail = 1;
    if (record_reader_open(path, &r, err)) {
        out->intact = 0;
        return;
    }
    while ((status = record_reader_next(r, &v, err)) != RECORD_NEXT_END) {
        if (status != RECORD_NEXT_OK) {
            out->clean_tail = 0;
            continue;
        }
        out->sequences_ok &= v.sequence == expected_sequence++;
        if (v.type != RECORD_TRIAL)
            continue;
        record_trial t;
        int same = record_trial_read(&v, &t, err) == 0 && t.trial == out->trials &&
                   t.neurons == NEURONS;
        for (int n = 0; same && n < NEURONS; n++)
            same = t.counts[n] == count_value(t.trial, n);
        free(t.decoded);
        out->intact &= same;
        out->trials++;
    }
    record_reader_close(r);
}

static int64_t read_acks(int fd)
{
    int64_t trial, last = -1;
    while (read(fd, &trial, sizeof trial) == (ssize_t)sizeof trial)
        last = trial;
    return last;
}

static int run_round(const char *dir, int round, uint64_t *rng, round_result *out)
{
    int fds[2];
    if (pipe(fds) != 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        child_append_forever(dir, fds[1], round == 0);
    }
    close(fds[1]);
    /* Wait for the first acknowledgement, so that every round has something
     * to check, then kill after 0 to 20 ms: anywhere in the append cycle. */
    int64_t first = -1;
    if (read(fds[0], &first, sizeof first) != (ssize_t)sizeof first)
        first = -1;
    *rng = *rng * 6364136223846793005u + 1442695040888963407u;
    long delay_us = (long)((*rng >> 33) % 20000);
    struct timespec pause = {0, delay_us * 1000};
    nanosleep(&pause, NULL);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    out->acknowledged = read_acks(fds[0]);
    if (out->acknowledged < first)
        out->acknowledged = first;
    close(fds[0]);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
        return 2; /* the child failed on its own */
    session_record *w;
    record_resume_report report;
    char err[CONTROLLER_ERR_SIZE];
    if (session_record_resume(dir, &w, &report, err))
        return 3;
    out->cut_bytes = report.cut_bytes;
    session_record_close(w, err);
    verify(dir, out);
    return 0;
}

int main(void)
{
    char dir[] = "/tmp/inception-test-kill-XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "temporary folder");
        return test_done();
    }
    char session[sizeof dir + 8];
    snprintf(session, sizeof session, "%s/s", dir);
    uint64_t rng = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 20;
    printf("# seed %llu\n", (unsigned long long)rng);
    int64_t previous_trials = 0, max_acknowledged = -1;
    int torn_tails = 0, acked_rounds = 0;
    for (int round = 0; round < ROUNDS; round++) {
        round_result r;
        memset(&r, 0, sizeof r);
        int status = run_round(session, round, &rng, &r);
        if (status) {
            CHECK(0, "round %d: %s", round, status == 2 ? "the writer failed before the kill"
                                            : status == 3 ? "resume failed" : "fork/pipe");
            break;
        }
        if (r.acknowledged > max_acknowledged)
            max_acknowledged = r.acknowledged;
        acked_rounds += r.acknowledged >= 0;
        torn_tails += r.cut_bytes > 0;
        CHECK(r.trials > max_acknowledged && r.intact && r.sequences_ok && r.clean_tail &&
                  r.trials >= previous_trials,
              "kill %d: %lld trials kept, acknowledged up to %lld, intact, contiguous, "
              "clean tail%s", round + 1, (long long)r.trials, (long long)r.acknowledged,
              r.cut_bytes ? " (a torn tail was cut)" : "");
        previous_trials = r.trials;
    }
    printf("# %d of %d kills cut a torn tail; %d rounds acknowledged trials\n", torn_tails,
           ROUNDS, acked_rounds);
    CHECK(acked_rounds == ROUNDS, "every round acknowledged trials before its kill (%d of %d)",
          acked_rounds, ROUNDS);
    remove_tree(dir);
    return test_done();
}
