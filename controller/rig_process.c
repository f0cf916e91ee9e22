/* rig_process.c: `inception virtual-rig` as a child of `inception run`
 * (run_internal.h). A separate process, as a real acquisition system is:
 * the session talks to it only over the stream and onset sockets. */
#include "run_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define RIG_ARGS 40

typedef struct arg_list {
    char *argv[RIG_ARGS + 1];
    char text[RIG_ARGS][PROTOCOL_STRING_SIZE];
    int count;
} arg_list;

static void arg_text(arg_list *a, const char *s)
{
    if (a->count >= RIG_ARGS)
        return;
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

/* The rig's command line from the protocol: the population, the response
 * window it spreads spikes over, the loss it injects, where truth goes. */
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
    arg_text(a, "--neurons");
    arg_number(a, v->neurons);
    arg_text(a, "--fraction-simple");
    arg_number(a, v->fraction_simple);
    arg_text(a, "--fraction-complex");
    arg_number(a, v->fraction_complex);
    arg_text(a, "--fraction-conjunction");
    arg_number(a, v->fraction_conjunction);
    arg_text(a, "--height");
    arg_number(a, p->images.height);
    arg_text(a, "--width");
    arg_number(a, p->images.width);
    arg_text(a, "--seed");
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)v->seed);
    arg_text(a, seed);
    arg_text(a, "--latency-ms");
    arg_number(a, p->response.latency_ms);
    arg_text(a, "--window-ms");
    arg_number(a, p->response.duration_ms);
    arg_text(a, "--loss");
    arg_number(a, 100.0 * v->message_loss);
    arg_text(a, "--truth");
    arg_text(a, truth);
}

int rig_process_start(rig_process *r, const char *executable, const protocol *p,
                      const char *session_dir, char *err)
{
    r->pid = 0;
    arg_list *a = calloc(1, sizeof *a); /* large; the child copies it at spawn */
    if (!a) {
        snprintf(err, CONTROLLER_ERR_SIZE, "out of memory for the rig's arguments");
        return 1;
    }
    rig_arguments(a, executable, p, session_dir, r->truth_index);
    char log[PROTOCOL_STRING_SIZE + 32];
    snprintf(log, sizeof log, "%s/virtual_rig.log", session_dir);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addclose(&fa, 0);
    int rc = posix_spawn(&r->pid, executable, &fa, NULL, a->argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    free(a);
    if (rc) {
        r->pid = 0;
        snprintf(err, CONTROLLER_ERR_SIZE, "cannot start the virtual rig (%s): %s", executable,
                 strerror(rc));
        return 1;
    }
    return 0;
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
