/* test_session_lock.c: one writer per session folder (controller/session_lock.c).
 * A second taker in this process is refused naming our pid; a release lets
 * the next one in; and a child that outlives its parent's hold (the virtual
 * rig, started with fork and exec while the lock is held) must not keep the
 * folder locked: the kernel's flock belongs to the open file, which a child
 * would share if the descriptor crossed exec. */
#include "controller.h"
#include "test.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    char dir[] = "/tmp/test_session_lock_XXXXXX", err[CONTROLLER_ERR_SIZE] = "", want[64];
    if (!mkdtemp(dir))
        return 1;
    session_lock *first = NULL, *second = NULL;
    CHECK(session_lock_take(dir, 0, &first, err) == 0 && first, "the lock taken: %s", err);
    snprintf(want, sizeof want, "in use by process %ld", (long)getpid());
    /* flock(2) locks are per open file: a second open in the same process conflicts. */
    CHECK(session_lock_take(dir, 0, &second, err) != 0 && !second && strstr(err, want),
          "a second taker is refused naming the holder's pid: %s", err);

    /* A child started the way the run starts the virtual rig: fork, exec.
     * Until its exec the child holds every descriptor: the pipe's write end
     * (close-on-exec) reads as closed here only once the exec is done. */
    int ready[2];
    char byte;
    CHECK(pipe2(ready, O_CLOEXEC) == 0, "a pipe");
    pid_t child = fork();
    if (child == 0) {
        close(ready[0]);
        execl("/bin/sleep", "sleep", "30", (char *)NULL);
        _exit(127);
    }
    close(ready[1]);
    ssize_t got = read(ready[0], &byte, 1);
    close(ready[0]);
    CHECK(child > 0 && got == 0, "a child process (sleep) exec'd while the lock is held");
    session_lock_release(first);
    err[0] = 0;
    int again = session_lock_take(dir, 0, &second, err);
    CHECK(again == 0 && second, "released while the child still runs: the lock is free again "
          "(the child did not inherit it): %s", again ? err : "taken");
    session_lock_release(second);
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, SESSION_LOCK_FILE);
    unlink(path);
    rmdir(dir);
    return test_done();
}
