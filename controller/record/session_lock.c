/* session_lock.c: one process writing a session folder at a time
 * (controller.h, session_lock_take). Two writers of one session.rec would
 * overwrite each other's records, and a resume of a live session would stop
 * its rig: the lock is taken before either can happen. flock(2) rather than
 * a pid file alone: the kernel releases it when the holder dies, however it
 * dies, so there is never a stale lock to judge. */
#include "controller.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct session_lock {
    int fd;
};

/* The pid the holder wrote, or 0 when it has not written it yet. */
static long holder_pid(int fd)
{
    char text[32] = "";
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    if (n <= 0)
        return 0;
    text[n] = 0;
    return strtol(text, NULL, 10);
}

static int write_pid(int fd)
{
    char text[32];
    int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
    return ftruncate(fd, 0) || pwrite(fd, text, (size_t)n, 0) != n;
}

int session_lock_take(const char *dir, int create, session_lock **out, char *err)
{
    *out = NULL;
    if (create && mkdir(dir, 0777) != 0 && errno != EEXIST)
        return controller_fail(err, "cannot create the session folder %s: %s", dir,
                               strerror(errno));
    char path[PROTOCOL_STRING_SIZE + 32];
    snprintf(path, sizeof path, "%s/%s", dir, SESSION_LOCK_FILE);
    /* O_CLOEXEC: a child (the virtual rig) must not inherit the lock and
     * hold it after this process is gone. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return controller_fail(err, "%s: cannot open the session lock %s: %s", dir,
                               SESSION_LOCK_FILE, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        long pid = e == EWOULDBLOCK ? holder_pid(fd) : 0;
        /* Between the holder's flock and its pid write the file still names
         * the previous holder: a pid that is gone is not named. */
        if (pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
            pid = 0;
        close(fd);
        if (e != EWOULDBLOCK)
            controller_fail(err, "%s: cannot lock %s: %s", dir, SESSION_LOCK_FILE, strerror(e));
        else if (pid > 0)
            controller_fail(err, "%s is in use by process %ld (it holds %s/%s); "
                            "nothing was changed: wait for it to end or stop it", dir, pid, dir,
                            SESSION_LOCK_FILE);
        else
            controller_fail(err, "%s is in use by another process (it holds "
                            "%s/%s); nothing was changed", dir, dir, SESSION_LOCK_FILE);
        return 1;
    }
    session_lock *l = malloc(sizeof *l);
    if (!l || write_pid(fd)) {
        controller_fail(err, "%s: cannot write %s: %s", dir, SESSION_LOCK_FILE,
                        l ? strerror(errno) : "out of memory");
        free(l);
        close(fd);
        return 1;
    }
    l->fd = fd;
    *out = l;
    return 0;
}

void session_lock_release(session_lock *l)
{
    if (!l)
        return;
    close(l->fd); /* closing the last descriptor releases the flock */
    free(l);
}
