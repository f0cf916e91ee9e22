/* rig_process.c: `inception virtual-rig` as a child of `inception run`
 * (run_internal.h). A separate process, as a real acquisition system is:
 * the session talks to it only over the stream and onset sockets. Its pid
 * and start time go to the session folder (RIG_PROCESS_FILE), so that a
 * resume can stop the rig of a controller that was killed. */
#include "run_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define RIG_ARGS 64

typedef struct arg_list {
    char *argv[RIG_ARGS + 1];
    char text[RIG_ARGS][PROTOCOL_STRING_SIZE];
    int count;
    int overflow; /* an argument did not fit: the rig is not started with a cut command line */
} arg_list;

static void arg_text(arg_list *a, const char *s)
{
    if (a->count >= RIG_ARGS) {
        a->overflow = 1;
        return;
    }
    snprintf(a->text[a->count], PROTOCOL_STRING_SIZE, "%s", s);
    a->argv[a->count] = a->text[a->count];
    a->count++;
    a->argv[a->count] = NULL;
}

static void arg_number(arg_list *a, double value)
{
    char text[64];
    snprintf(text, sizeof text, "%.9g", value);
    arg_text(a, text);
}

/* "--name value": one option of the rig's command line. */
static void arg_option(arg_list *a, const char *name, double value)
{
    arg_text(a, name);
    arg_number(a, value);
}

/* The rig's command line from the protocol: the population, the response
 * window it spreads spikes over, the faults it injects, where truth goes. */
static void rig_arguments(arg_list *a, const char *exe, const protocol *p, const char *dir,
                          int truth_index)
{
    char truth[PROTOCOL_STRING_SIZE + 32];
    if (truth_index > 0) /* a resumed session's rig: the earlier truth is kept */
        snprintf(truth, sizeof truth, "%s/rig_truth.%d", dir, truth_index);
    else
        snprintf(truth, sizeof truth, "%s/rig_truth", dir);
    const protocol_virtual_rig *v = &p->virtual_rig;
    arg_text(a, exe);
    arg_text(a, "virtual-rig");
    arg_text(a, "--publish");
    arg_text(a, p->endpoints.stream);
    arg_text(a, "--onsets");
    arg_text(a, p->endpoints.sync);
    arg_option(a, "--neurons", v->neurons);
    arg_option(a, "--fraction-simple", v->fraction_simple);
    arg_option(a, "--fraction-complex", v->fraction_complex);
    arg_option(a, "--fraction-conjunction", v->fraction_conjunction);
    arg_option(a, "--fraction-energy-conjunction", v->fraction_energy_conjunction);
    arg_option(a, "--fraction-end-stopped", v->fraction_end_stopped);
    arg_option(a, "--fraction-surround", v->fraction_surround);
    arg_option(a, "--fraction-curvature", v->fraction_curvature);
    arg_option(a, "--fraction-texture", v->fraction_texture);
    if (v->baseline_rate > 0.0f) { /* none: the command line of a session before them */
        arg_option(a, "--baseline-rate", v->baseline_rate);
        arg_option(a, "--baseline-share", v->baseline_share);
    }
    arg_option(a, "--height", p->images.height);
    arg_option(a, "--width", p->images.width);
    arg_text(a, "--seed");
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)v->seed);
    arg_text(a, seed);
    arg_option(a, "--latency-ms", p->response.latency_ms);
    arg_option(a, "--window-ms", p->response.duration_ms);
    arg_option(a, "--loss", 100.0 * v->message_loss);
    arg_option(a, "--drop-sync-every", v->drop_sync_every);
    arg_option(a, "--drop-bin-every", v->drop_bin_every);
    if (p->modality == PROTOCOL_MODALITY_AUDIO) { /* the auditory population, the run's */
        auditory_config c;
        session_sound_config(p, &c);
        arg_text(a, "--audio");
        arg_option(a, "--audio-rate", c.cochlea.sample_rate);
        arg_option(a, "--audio-samples", c.cochlea.samples);
        arg_option(a, "--audio-bands", c.cochlea.bands);
        arg_option(a, "--audio-rms-db", c.rms_db);
    }
    if (p->endpoints.sync_line >= 0) { /* the aligner takes that line only */
        arg_text(a, "--sync-line");
        arg_number(a, p->endpoints.sync_line);
    }
    arg_text(a, "--truth");
    arg_text(a, truth);
}

/* The child's side of the fork, before exec: async-signal-safe calls only
 * (the parent has threads). It asks for SIGTERM when the parent dies, so a
 * controller killed with SIGKILL leaves no rig behind (SIGTERM: the rig writes
 * its ground truth and exits), and exits at once if the parent died before the
 * request was in place. */
static void child_exec(const arg_list *a, const char *executable, const char *log, pid_t parent)
{
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
        _exit(127);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
        _exit(127);
    close(0);
    execve(executable, a->argv, environ);
    _exit(127);
}

int rig_process_start(rig_process *r, const char *executable, const protocol *p,
                      const char *session_dir, char *err)
{
    r->pid = 0;
    r->start_time = 0;
    arg_list *a = calloc(1, sizeof *a); /* large; the child copies it at fork */
    if (!a)
        return controller_fail(err, "out of memory for the rig's arguments");
    rig_arguments(a, executable, p, session_dir, r->truth_index);
    if (a->overflow) { /* a silently cut command line would run another rig than the protocol's */
        free(a);
        return controller_fail(err, "the virtual rig's command line has more than %d arguments "
                               "(RIG_ARGS in controller/session/rig_process.c)", RIG_ARGS);
    }
    char log[PROTOCOL_STRING_SIZE + 32];
    snprintf(log, sizeof log, "%s/virtual_rig.log", session_dir);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        child_exec(a, executable, log, parent);
    int fork_errno = errno;
    free(a);
    if (pid < 0)
        return controller_fail(err, "cannot start the virtual rig (%s): %s", executable,
                               strerror(fork_errno));
    r->pid = pid;
    r->start_time = rig_process_start_time(pid);
    return rig_process_save(r, session_dir, err);
}

/* ---- the rig of an earlier (killed) controller ---- */

unsigned long long rig_process_start_time(pid_t pid)
{
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    /* Fields after the command (which may hold spaces and parentheses): the
     * last ')' ends it; then state is field 3 and the start time field 22. */
    char *c = strrchr(text, ')');
    if (!c)
        return 0;
    char state = 0;
    unsigned long long start = 0;
    int field = 2;
    char *save = NULL;
    for (char *t = strtok_r(c + 1, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        field++;
        if (field == 3)
            state = t[0];
        if (field == 22) {
            start = strtoull(t, NULL, 10);
            break;
        }
    }
    return state == 'Z' || state == 'X' ? 0 : start; /* a zombie has exited */
}

int rig_process_save(const rig_process *r, const char *session_dir, char *err)
{
    char path[PROTOCOL_STRING_SIZE + 32];
    snprintf(path, sizeof path, "%s/%s", session_dir, RIG_PROCESS_FILE);
    FILE *f = fopen(path, "w");
    int bad = !f || fprintf(f, "%d %llu\n", (int)r->pid, r->start_time) < 0;
    if (f && fclose(f))
        bad = 1;
    if (bad)
        return controller_fail(err, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

int rig_process_stop_earlier(const char *session_dir, int timeout_ms, char *note, size_t size)
{
    char path[PROTOCOL_STRING_SIZE + 32];
    snprintf(path, sizeof path, "%s/%s", session_dir, RIG_PROCESS_FILE);
    snprintf(note, size, "no earlier virtual rig recorded");
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int pid = 0;
    unsigned long long start = 0;
    int got = fscanf(f, "%d %llu", &pid, &start);
    fclose(f);
    if (got != 2 || pid <= 1 || !start) {
        snprintf(note, size, "%s: malformed, no earlier virtual rig stopped", RIG_PROCESS_FILE);
        return 0;
    }
    /* The start time tells our rig from an unrelated process that got its pid. */
    if (rig_process_start_time(pid) != start) {
        snprintf(note, size, "the earlier virtual rig (pid %d) had exited", pid);
        return 0;
    }
    kill(pid, SIGTERM);
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        struct timespec ten = {0, 10000000};
        nanosleep(&ten, NULL);
        if (rig_process_start_time(pid) != start) {
            snprintf(note, size, "the earlier virtual rig (pid %d) was still running: stopped", pid);
            return 0;
        }
    }
    kill(pid, SIGKILL);
    for (int waited = 0; waited < 2000 && rig_process_start_time(pid) == start; waited += 10) {
        struct timespec ten = {0, 10000000};
        nanosleep(&ten, NULL);
    }
    snprintf(note, size, "the earlier virtual rig (pid %d) ignored SIGTERM: killed", pid);
    return 1;
}

static int reap(pid_t pid, int timeout_ms, int *status)
{
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        pid_t got = waitpid(pid, status, WNOHANG);
        if (got == pid || (got < 0 && errno == ECHILD))
            return got == pid;
        struct timespec ten = {0, 10000000};
        nanosleep(&ten, NULL);
    }
    return 0;
}

int rig_process_stop(rig_process *r, int timeout_ms)
{
    if (r->pid <= 0)
        return 0;
    int status = 0;
    kill(r->pid, SIGTERM);
    if (!reap(r->pid, timeout_ms, &status)) {
        kill(r->pid, SIGKILL);
        waitpid(r->pid, &status, 0);
        r->pid = 0;
        return 1;
    }
    r->pid = 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
