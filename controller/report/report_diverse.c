/* report_diverse.c: the report's gallery of the diverse sets (mei.kinds
 * diverse, docs/run.md): per target its MEI, then its set, each image with
 * its recorded mean over the MEI's; diverse.csv the same. */
#include "report_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Each image's mean is its target's count over its unflagged closed-loop
 * trials (report_data.c gathers them), drawn from the trials only. */
int report_diverse_gallery(report_output *o, const session_data *d)
{
    int have = 0;
    for (int i = 0; i < d->stimulus_count; i++)
        have |= !strcmp(d->stimuli[i].kind, STIMULUS_KIND_NAME_DIVERSE);
    if (!have)
        return 0;
    fprintf(o->html, "<h3>Diverse MEIs</h3>\n<table class=\"gallery\">\n");
    FILE *f = report_open_data(o, "diverse.csv");
    if (!f)
        return 1;
    fprintf(f, "neuron,stimulus_id,mean,trials,over_mei\n");
    int64_t previous = INT64_MIN;
    for (int i = 0; i < d->stimulus_count; i++) { /* sorted: by neuron, its set last, by id */
        const stimulus_image *s = &d->stimuli[i];
        if (strcmp(s->kind, STIMULUS_KIND_NAME_DIVERSE))
            continue;
        int64_t repeats = 0;
        const stats_interval *mei =
            report_closed_loop_interval(d, s->neuron, STIMULUS_KIND_MEI, &repeats);
        double m = mei ? mei->mean : NAN;
        char name[64], note[96];
        if (s->neuron != previous) {
            fprintf(o->html, "%s<tr><th>neuron %lld</th>", previous != INT64_MIN ? "</tr>\n" : "",
                    (long long)s->neuron);
            previous = s->neuron;
            const stimulus_image *x =
                report_closed_loop_stimulus(d, s->neuron, STIMULUS_KIND_NAME_MEI);
            snprintf(name, sizeof name, "diverse_%d_mei.png", i);
            snprintf(note, sizeof note, "recorded %.3g", m);
            if (x && report_gallery_cell(o, x, name, "MEI", note)) {
                fclose(f);
                return 1;
            }
        }
        double mean = s->trials ? s->sum / (double)s->trials : NAN;
        double over = isfinite(mean) && isfinite(m) && m > 0 ? mean / m : NAN;
        fprintf(f, "%lld,%lld,%.9g,%lld,%.9g\n", (long long)s->neuron, (long long)s->id, mean,
                (long long)s->trials, over);
        snprintf(name, sizeof name, "diverse_%d.png", i);
        snprintf(note, sizeof note, "recorded / MEI %.2f (%lld trials)", over,
                 (long long)s->trials);
        if (report_gallery_cell(o, s, name, "diverse", note)) {
            fclose(f);
            return 1;
        }
    }
    fprintf(o->html, "</tr>\n</table>\n<p class=\"caption\">Each row: one target's MEI, then "
                     "its diverse set (mei.kinds diverse), each image with its recorded mean "
                     "over the MEI's (unflagged closed-loop trials); the offline ground truth "
                     "asks for 0.8 or more (docs/mei.md).</p>\n");
    return report_close_data(o, f, "diverse.csv");
}
