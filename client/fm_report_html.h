/*  =========================================================================
    fm_report_html - the report as one self-contained HTML file

    Writes an fm_report_t (client/fm_report.h) as a page that officials can
    mail or archive: the same figures as `finmatch report`, in the same
    Chinese tables, plus bar charts drawn as inline SVG on the server.
    Inline CSS, no script, no font, no image or link to anything outside
    the file: it opens the same offline, years later.  Every text from the
    log (bank codes, grid ids) is HTML-escaped.  Used by `finmatch report
    --html FILE` and by finmatch-dashboard's /report.html.
    =========================================================================
*/

#ifndef FM_REPORT_HTML_H_INCLUDED
#define FM_REPORT_HTML_H_INCLUDED

#include <stdio.h>
#include "fm_report.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Write the report as HTML to file (borrowed).  source names where the
//  figures come from (a log path), shown under the title, escaped.
//  Returns 0, or -1 if writing to file failed.
int
    fm_report_html (const fm_report_t *self, const char *source, FILE *file);

//  Write str HTML-escaped (& < > " ') to file.  Cannot fail (errors show
//  in ferror).
void
    fm_html_escape (FILE *file, const char *str);

//  Self test
void
    fm_report_html_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
