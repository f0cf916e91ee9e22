/* report.c: `inception report DIR`: a session record read back into an HTML
 * page with PNG figures (controller.h, "Report"): report_write, the page's
 * head and its sections in order. The record is read by report_data.c (with
 * report_data_search.c and report_data_timing.c), the page's pieces are
 * report_html.c's, each section is its file's: report_model.c (correlations,
 * learning curve, oracle), report_final_model.c (test predictions, readout
 * map), report_psth.c, report_closed_loop.c (gallery, MEI vs controls),
 * report_search.c (the model-free search) and report_timing.c (display,
 * stream, clock alignment). The newer figures write their numbers beside
 * them as CSV. */
#include "report_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- The page ---- */

static void page_head(report_output *o, const session_data *d, const char *session_dir)
{
    FILE *f = o->html;
    fprintf(f, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n<title>inception "
               "report: ");
    report_html_escaped(f, d->protocol_name[0] ? d->protocol_name : session_dir);
    fprintf(f, "</title>\n<style>\nbody{font-family:sans-serif;max-width:1150px;margin:1em auto;"
               "color:#222}\n.caption{max-width:560px;font-size:90%%}\n.missing{color:#a00;"
               "font-style:italic}\ntable.gallery td{text-align:center;padding:4px;font-size:"
               "85%%}\ntable.numbers td,table.numbers th{padding:2px 8px;font-size:85%%}\n"
               "</style></head>\n<body>\n<h1>Session ");
    report_html_escaped(f, d->protocol_name[0] ? d->protocol_name : "(no session start)");
    fprintf(f, "</h1>\n<p>Record: ");
    report_html_escaped(f, session_dir);
    fprintf(f, "/" RECORD_FILE_NAME ", %llu records over %.1f s, %llu damaged stretches "
               "skipped; %d model checkpoints",
            (unsigned long long)d->summary.records, (double)(d->last_ns - d->first_ns) * 1e-9,
            (unsigned long long)d->summary.damaged, d->checkpoints);
    if (d->checkpoints)
        fprintf(f, " (last validation correlation %.3f)", d->last_validation_corr);
    fprintf(f, ".</p>\n<p>Phases: ");
    report_html_escaped(f, d->phases[0] ? d->phases : "none recorded");
    fprintf(f, "</p>\n");
    if (d->notes[0]) {
        fprintf(f, "<pre>");
        report_html_escaped(f, d->notes);
        fprintf(f, "</pre>\n");
    }
}

static int write_page(report_output *o, const session_data *d, const char *session_dir)
{
    page_head(o, d, session_dir);
    int status = report_section_model(o, d) || report_section_gallery(o, d) ||
                 report_section_evaluation(o, d) || report_section_search(o, d) ||
                 report_section_oracle(o, d) || report_section_final_model(o, d) ||
                 report_section_curve(o, d) || report_section_psth(o, d) ||
                 report_section_timing(o, d) || report_section_stream(o, d) ||
                 report_section_alignment(o, d);
    fprintf(o->html, "</body></html>\n");
    return status;
}

static int open_output(report_output *o, const char *session_dir, char *err)
{
    snprintf(o->dir, sizeof o->dir, "%s/%s", session_dir, REPORT_DIR_NAME);
    if (mkdir(o->dir, 0777) && errno != EEXIST)
        return controller_fail(err, "%s: cannot create the report folder: %s", o->dir,
                                 strerror(errno));
    char path[PATH_SIZE + 32];
    snprintf(path, sizeof path, "%s/index.html", o->dir);
    o->html = fopen(path, "w");
    if (!o->html)
        return controller_fail(err, "%s: cannot create: %s", path, strerror(errno));
    return 0;
}

int report_write(const char *session_dir, report_summary *out, char *err)
{
    session_data *d = calloc(1, sizeof *d);
    if (!d)
        return controller_fail(err, "out of memory");
    d->search_truth_median = d->search_truth_beats_natural = d->search_truth_beats_mei = NAN;
    d->truth_baseline_scored = d->truth_baseline_least_below = d->truth_baseline_median = NAN;
    int status = report_read_session(session_dir, d, err);
    if (!status && d->stimulus_count > 1)
        qsort(d->stimuli, (size_t)d->stimulus_count, sizeof *d->stimuli, report_compare_stimulus);
    report_output o = {.summary = &d->summary, .err = err, .session_dir = session_dir};
    if (!status && !(status = open_output(&o, session_dir, err))) {
        status = write_page(&o, d, session_dir);
        if (fclose(o.html) && !status)
            status = controller_fail(err, "%s/index.html: write failed (disk full?)", o.dir);
    }
    if (out)
        *out = d->summary;
    report_session_data_free(d);
    free(d);
    return status;
}
