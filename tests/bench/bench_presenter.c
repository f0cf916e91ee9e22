/* bench_presenter.c: the presenter's frame path at 1920×1080: a different
 * texture every frame (full-screen stimuli), the photodiode patch, the
 * timestamp and the bookkeeping, timed per frame; plus the swap itself and
 * the jitter of the flip timestamps. Run under Xvfb by run_bench_presenter.sh
 * (or on any display). Arguments: [flips (600)] [refresh Hz (60)]. */
#include "presenter/presenter.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    int flips = argc > 1 ? atoi(argv[1]) : 600;
    float hz = argc > 2 ? (float)atof(argv[2]) : 60.0f;
    char err[STIMULUS_ERR_SIZE];
    presenter_config c = presenter_config_default();
    c.width = 1920;
    c.height = 1080;
    c.refresh_hz = hz;
    c.stimulus_width_deg = 0; /* fill the screen: the most pixels per frame */
    c.queue_capacity = flips + 1;
    presenter *p;
    if (flips < 10 || presenter_create(&p, &c, err)) {
        fprintf(stderr, "bench_presenter: %s\n", flips < 10 ? "at least 10 flips" : err);
        return 1;
    }
    enum { TEXTURES = 16, SIDE = 256 };
    float *image = malloc(sizeof(float) * SIDE * SIDE);
    for (int k = 0; k < TEXTURES; k++) {
        for (int i = 0; i < SIDE * SIDE; i++)
            image[i] = (float)((i * 7 + k * 13) % 256) / 255.0f;
        int id;
        presenter_add_image(p, image, SIDE, SIDE, &id, err);
    }
    free(image);
    presenter_start_block(p, err);
    presenter_set_paused(p, 1);
    for (int i = 0; i < flips; i++) {
        presenter_request r = {i, i % TEXTURES, -1, 1, 0, NULL};
        presenter_submit(p, &r, err);
    }
    presenter_set_paused(p, 0);
    presenter_finish_block(p);
    presenter_event ev;
    while (presenter_next_event(p, &ev, 60000) && ev.kind != PRESENTER_EVENT_BLOCK_END)
        ;
    presenter_summary s;
    presenter_block_summary(p, &s);
    int w, h;
    presenter_drawable_size(p, &w, &h);
    printf("display: %s, %d×%d\n", presenter_status(p), w, h);
    printf("frame path (draw + photodiode + timestamp + bookkeeping): median %.3f ms, p99 %.3f "
           "ms (target < 1 ms, < 2 ms)\n", s.frame_work_median_ms, s.frame_work_p99_ms);
    printf("swap call (rasterization + present): median %.3f ms\n", s.present_median_ms);
    printf("flip intervals over %lld flips: %.3f ± %.3f ms (max %.3f; period %.3f), %lld "
           "dropped, %lld of %lld trials with a wrong duration\n", (long long)s.flips,
           s.interval_mean_ms, s.interval_sd_ms, s.interval_max_ms, s.period_ms,
           (long long)s.dropped_frames, (long long)s.wrong_durations,
           (long long)s.trials_shown);
    presenter_destroy(p);
    return 0;
}
