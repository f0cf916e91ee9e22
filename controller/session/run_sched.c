/* run_sched.c: the frame path protected from the fit (run_internal.h,
 * run_sched). On a small machine the background fit's threads compete with
 * the presenter's render thread and the stream's receiver for the cores; a
 * render thread that wakes a millisecond late misses its flip. What it can,
 * in order:
 *   - real time: SCHED_FIFO at a modest priority for the render thread and
 *     the receiver (they sleep nearly all the time, so they cannot starve
 *     the machine), memory locked so that no page fault stalls a flip;
 *   - without the privilege for it (no CAP_SYS_NICE, RLIMIT_RTPRIO 0): the
 *     fit's threads at nice 19, and on 3 or more CPUs the render thread
 *     given a CPU of its own, the fit's threads the others (fewer of them).
 * With real time the fit keeps its nice value (the real-time threads preempt
 * it whenever they wake), so it loses only the little CPU they use; the
 * fallback's nice 19 costs it more where other processes compete. */
#include "run_internal.h"

#include <errno.h>
#include <malloc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#define PRIORITY_PRESENTER 20 /* of 1..99: above kernel-thread defaults' 1, far below 50 (irqs) */
#define PRIORITY_RECEIVER 19
#define PRIORITY_ALIGNING 18  /* the run loop during a block: below the receiver that feeds it */
/* What normal priority costs the aligning run loop (controller/record/RECORD.md `spikes`). */
#define ALIGNING_SLOW "receive-to-aligned p99 may pass 2 ms on a loaded machine (7 ms measured)"
#define NICE_FIT_REALTIME 0   /* the real-time threads preempt it anyway: full speed */
#define NICE_FIT_FALLBACK 19

static int set_fifo(pthread_t t, int priority)
{
    struct sched_param sp = {.sched_priority = priority};
    return pthread_setschedparam(t, SCHED_FIFO, &sp);
}

#define HEAP_KEEP_BYTES (128 << 20) /* above glibc's 64 MB thread heaps: none is ever trimmed */
#define HEAP_MMAP_BYTES (32 << 20)  /* glibc's own dynamic ceiling, fixed from the start */

/* Memory freed stays in the process. By default glibc gives the free top of
 * a heap back to the kernel (madvise) and takes it back page fault by page
 * fault: measured at 240 Hz, the render thread's present (Mesa's llvmpipe
 * freeing its scene) spent 1.5-3 ms in that madvise every 863 frames, a
 * dropped frame each time. Fixing the trim threshold also fixes the mmap
 * threshold, which would send every block over 128 kB to mmap and munmap:
 * it is set to glibc's own ceiling instead, as the dynamic one would reach. */
static void heap_keep(void)
{
    mallopt(M_MMAP_THRESHOLD, HEAP_MMAP_BYTES);
    mallopt(M_TRIM_THRESHOLD, HEAP_KEEP_BYTES);
}

/* ", 18 for the video driver's 2 threads" (empty without any). */
static void describe_driver_threads(int count, char *text, size_t size)
{
    text[0] = 0;
    if (count)
        snprintf(text, size, ", %d for the video driver's %d thread%s", PRIORITY_PRESENTER - 3,
                 count, count > 1 ? "s" : "");
}

/* INCEPTION_SCHEDULING: auto (default), fallback or off; NULL for anything else. */
static const char *mode_from_environment(void)
{
    const char *m = getenv("INCEPTION_SCHEDULING");
    if (!m || !*m)
        return "auto";
    return !strcmp(m, "auto") || !strcmp(m, "fallback") || !strcmp(m, "off") ? m : NULL;
}

int run_sched_presenter_priority(char *err)
{
    const char *asked = mode_from_environment();
    if (!asked) {
        controller_fail(err, "INCEPTION_SCHEDULING is \"%s\": use auto, fallback "
                        "or off", getenv("INCEPTION_SCHEDULING"));
        return -1;
    }
    return strcmp(asked, "auto") ? 0 : PRIORITY_PRESENTER;
}

int run_sched_protect(run_sched *s, presenter *display, pthread_t receiver, int have_receiver,
                      char *err)
{
    memset(s, 0, sizeof *s);
    s->presenter_cpu = -1;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    s->cpus = cpus > 0 ? (int)cpus : 1;
    const char *asked = mode_from_environment();
    if (!asked)
        return run_sched_presenter_priority(err) < 0;
    if (!strcmp(asked, "off")) {
        s->mode = RUN_SCHED_OFF;
        snprintf(s->text, sizeof s->text, "scheduling: off (INCEPTION_SCHEDULING=off): the "
                 "presenter, the receiver and the fit share the %d CPUs as equals", s->cpus);
        return 0;
    }
    /* The render thread asked for itself as it started (run_display_open). */
    int rt_error = 0;
    if (!strcmp(asked, "auto")) {
        rt_error = display ? presenter_realtime(display) : 0;
        if (!rt_error && have_receiver)
            rt_error = set_fifo(receiver, PRIORITY_RECEIVER);
    }
    if (!strcmp(asked, "auto") && !rt_error) {
        s->mode = RUN_SCHED_REALTIME;
        s->fit_nice = NICE_FIT_REALTIME;
        s->mlocked = mlockall(MCL_CURRENT) == 0;
        heap_keep();
        s->driver_threads = display ? presenter_driver_threads(display) : 0;
        char driver[96];
        describe_driver_threads(s->driver_threads, driver, sizeof driver);
        /* The run loop (this thread) takes real time only while a block
         * shows: asked for once here, so that the line says what it gets. */
        int aligning_error = have_receiver ? set_fifo(pthread_self(), PRIORITY_ALIGNING) : 0;
        struct sched_param normal = {.sched_priority = 0};
        if (have_receiver && !aligning_error)
            pthread_setschedparam(pthread_self(), SCHED_OTHER, &normal);
        s->aligning_realtime = have_receiver && !aligning_error;
        char aligning[200] = "";
        if (s->aligning_realtime)
            snprintf(aligning, sizeof aligning, ", %d for the run loop aligning the stream "
                     "while a block shows", PRIORITY_ALIGNING);
        else if (have_receiver)
            snprintf(aligning, sizeof aligning, "; the run loop aligning the stream at normal "
                     "priority (refused: %s): %s", strerror(aligning_error), ALIGNING_SLOW);
        snprintf(s->text, sizeof s->text, "scheduling: real-time (SCHED_FIFO %d for the "
                 "presenter%s, %d for the receiver%s%s), memory %s, freed memory kept; the "
                 "background fit at nice %d on all %d CPUs", PRIORITY_PRESENTER,
                 display ? "" : " (remote: none here)", PRIORITY_RECEIVER, driver,
                 s->aligning_realtime ? aligning : "",
                 s->mlocked ? "locked" : "NOT locked (mlockall refused)", s->fit_nice, s->cpus);
        if (have_receiver && !s->aligning_realtime)
            snprintf(s->text + strlen(s->text), sizeof s->text - strlen(s->text), "%s",
                     aligning);
        return 0;
    }
    /* Fallback: undo a half-done real-time setup, then nice and affinity. */
    struct sched_param normal = {.sched_priority = 0};
    if (display)
        pthread_setschedparam(presenter_thread(display), SCHED_OTHER, &normal);
    if (have_receiver)
        pthread_setschedparam(receiver, SCHED_OTHER, &normal);
    s->mode = RUN_SCHED_FALLBACK;
    heap_keep();
    s->fit_nice = NICE_FIT_FALLBACK;
    if (display && s->cpus >= 3) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(s->cpus - 1, &one);
        if (!pthread_setaffinity_np(presenter_thread(display), sizeof one, &one))
            s->presenter_cpu = s->cpus - 1;
    }
    char why[96] = "asked for (INCEPTION_SCHEDULING=fallback)";
    if (rt_error)
        snprintf(why, sizeof why, "no real-time priority: %s", strerror(rt_error));
    char cpu[96] = "; no CPU reserved (fewer than 3)";
    if (s->presenter_cpu >= 0)
        snprintf(cpu, sizeof cpu, "; CPU %d reserved for the presenter, the fit on the other %d",
                 s->presenter_cpu, s->cpus - 1);
    snprintf(s->text, sizeof s->text, "scheduling: fallback (%s): the background fit at nice "
             "%d%s, freed memory kept (docs/presentation.md)%s%s", why, s->fit_nice, cpu,
             have_receiver ? "; the run loop aligning the stream at normal priority: " : "",
             have_receiver ? ALIGNING_SLOW : "");
    return 0;
}

void run_sched_display_alone(presenter *display, char *text, size_t size)
{
    int refused = presenter_realtime(display);
    if (refused == -1) {
        snprintf(text, size, "scheduling: ordinary (INCEPTION_SCHEDULING=%s)",
                 mode_from_environment());
        return;
    }
    if (refused) {
        snprintf(text, size, "scheduling: ordinary (no real-time priority: %s; README: the "
                 "presenter)", strerror(refused));
        return;
    }
    char driver[96];
    describe_driver_threads(presenter_driver_threads(display), driver, sizeof driver);
    heap_keep();
    snprintf(text, size, "scheduling: real-time (SCHED_FIFO %d for the presenter%s), memory "
             "%s, freed memory kept",
             PRIORITY_PRESENTER, driver,
             mlockall(MCL_CURRENT) == 0 ? "locked" : "NOT locked (mlockall refused)");
}

int run_sched_fit_threads(const run_sched *s, int asked)
{
    int left = s->presenter_cpu >= 0 ? s->cpus - 1 : s->cpus;
    return asked > left ? left : asked;
}

void run_sched_enter_fit_thread(const run_sched *s)
{
    if (s->mode == RUN_SCHED_OFF)
        return;
    /* Started during a block, the thread inherited the run loop's real-time
     * priority (run_sched_aligning): the fit must never hold it. */
    struct sched_param normal = {.sched_priority = 0};
    pthread_setschedparam(pthread_self(), SCHED_OTHER, &normal);
    /* Linux: nice is a thread's own, and the threads it starts (the fit's
     * OpenMP team) inherit it and its CPU mask. Raising nice needs no
     * privilege; a failure leaves the fit as it was, which is only slower
     * frames, so it is not an error. */
    setpriority(PRIO_PROCESS, (id_t)gettid(), s->fit_nice);
    if (s->presenter_cpu >= 0) {
        cpu_set_t others;
        CPU_ZERO(&others);
        for (int c = 0; c < s->cpus; c++)
            if (c != s->presenter_cpu)
                CPU_SET(c, &others);
        sched_setaffinity(0, sizeof others, &others);
    }
}

/* A trial's counts are wanted within 2 ms of the bin that completes it
 * (tests/bench/bench_spikes.c): on a loaded machine a normal-priority
 * thread waits milliseconds for a CPU after the receiver wakes it, so the run
 * loop takes real time while a block shows. It sleeps between items then
 * (at most 2 ms a turn on the stream) and does little per item, so it cannot
 * starve the machine; between blocks it synthesizes and evaluates, which must
 * not run at real-time priority, so it goes back to normal. A refusal leaves
 * the thread as it was: only slower alignment. */
void run_sched_aligning(const run_sched *s, int on)
{
    if (s->mode != RUN_SCHED_REALTIME || !s->aligning_realtime)
        return;
    struct sched_param sp = {.sched_priority = on ? PRIORITY_ALIGNING : 0};
    pthread_setschedparam(pthread_self(), on ? SCHED_FIFO : SCHED_OTHER, &sp);
}
