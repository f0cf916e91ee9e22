/* virtual_rig_run.c: `inception virtual-rig`'s loop: the rig on its
 * publisher and onset sockets, and its ground truth at the end
 * (virtual_rig.h). */
#include "virtual_rig.h"
#include "controller_util.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static void tell(rig_run_event_fn on_event, void *user, rig_run_stage stage, int trials,
                 const char *why)
{
    rig_run_event e = {stage, trials, why};
    if (on_event)
        on_event(&e, user);
}

/* The loop: publish what is due, take onsets as they come. */
static void serve(virtual_rig *rig, acq_receiver *onsets, const rig_run_config *c,
                  const volatile sig_atomic_t *stop, rig_run_event_fn on_event, void *user)
{
    int64_t start = acq_now_ns(), last_report = start, done_at = 0;
    char why[CONTROLLER_ERR_SIZE];
    while (!(stop && *stop)) {
        int64_t now = acq_now_ns(), wait = rig_tick(rig, now);
        if (c->duration > 0 && now - start > (int64_t)((double)c->duration * 1e9))
            break;
        if (c->trials > 0 && rig_trials_published(rig) >= c->trials) {
            /* A few more bins, so a receiver sees the last window is complete. */
            done_at = done_at ? done_at : now;
            if (now - done_at > 200000000)
                break;
        }
        if (now - last_report > 10000000000LL) {
            tell(on_event, user, RIG_RUN_PROGRESS, rig_trials(rig), NULL);
            last_report = now;
        }
        int ms = wait <= 0 ? 0 : wait > 20000000 ? 20 : (int)(wait / 1000000);
        acq_item *it;
        if (!acq_receiver_pop(onsets, &it, ms))
            continue;
        if (it->type == ACQ_MSG_ONSET && rig_onset(rig, &it->onset, it->image, why))
            tell(on_event, user, RIG_RUN_SKIPPED, rig_trials(rig), why);
        acq_item_free(it);
    }
}

static int write_truth(const virtual_rig *rig, const char *dir, char *err)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return controller_fail(err, "cannot create %s: %s", dir, strerror(errno));
    return rig_write_truth(rig, dir, err);
}

int rig_run(const rig_run_config *c, const volatile sig_atomic_t *stop,
            rig_run_event_fn on_event, void *user, rig_run_result *result, char *err)
{
    acq_socket_config publish = c->publish;
    acq_receiver_config onsets = c->onsets;
    publish.bind = 1;
    onsets.topic = "onset";
    acq_publisher *pub = NULL;
    acq_receiver *receiver = NULL;
    virtual_rig *rig = NULL;
    int status = 1;
    if (acq_publisher_create(&pub, NULL, &publish, 1, (uint32_t)c->rig.seed, err) ||
        acq_receiver_create(&receiver, NULL, &onsets, err) ||
        rig_create(&rig, &c->rig, pub, acq_now_ns(), err))
        goto done;
    tell(on_event, user, RIG_RUN_READY, 0, NULL);
    serve(rig, receiver, c, stop, on_event, user);
    if (c->truth_dir && write_truth(rig, c->truth_dir, err))
        goto done;
    memset(result, 0, sizeof *result);
    rig_stats_get(rig, &result->rig);
    acq_publisher_get_stats(pub, &result->publisher);
    status = 0;
done:
    rig_destroy(rig);
    acq_receiver_destroy(receiver);
    acq_publisher_destroy(pub);
    return status;
}
