/*  =========================================================================
    fm_text - UTF-8 text: validation, display width, aligned tables

    Owns everything about how text looks on a terminal: names in the data
    are Chinese, so a column is measured in display cells (wcwidth: a CJK
    character takes two), never in bytes, and a long name is cut at a
    character boundary with an ellipsis.  Also owns UTF-8 validation, used
    by the codec and every file loader so that bad bytes never reach a
    terminal or the log.
    =========================================================================
*/

#ifndef FM_TEXT_H_INCLUDED
#define FM_TEXT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

//  True if the size bytes at text are well-formed UTF-8 (no overlongs, no
//  surrogates, nothing above U+10FFFF) and contain no NUL or C0 control
//  character other than tab.  Cannot fail.
bool
    fm_utf8_valid (const char *text, size_t size);

//  Display width in terminal cells of a valid UTF-8 string (CJK = 2,
//  combining marks 0, "…" 1), from built-in tables: independent of the
//  locale.  Invalid bytes and control characters count one cell each (they
//  print as "?"; tab as " ").  Cannot fail.
size_t
    fm_text_width (const char *text);

//  Copy text into buf (size bytes) cut to at most `cells` display cells;
//  if cut, the last cell is "…".  Never splits a UTF-8 sequence; a buf
//  too small for the text also cuts it.  Invalid bytes and controls are
//  written as "?" (tab as " "), so the output is always valid UTF-8 that
//  cannot move a terminal's cursor.  Returns the display width of what
//  was written (may be one less than cells when a wide character would
//  not fit).
size_t
    fm_text_fit (const char *text, size_t cells, char *buf, size_t size);

//  True if the comma-separated list has item as one of its elements
//  (spaces around elements ignored; exact, case-sensitive match).  "a, b"
//  has "b"; "ab" does not have "a".  Cannot fail.
bool
    fm_list_has (const char *list, const char *item);

//  A table printed with columns aligned by display width.
typedef struct _fm_table_t fm_table_t;

//  Column alignment
typedef enum { FM_ALIGN_LEFT = 0, FM_ALIGN_RIGHT = 1 } fm_align_t;

//  Create a table with ncols columns.  Returns NULL if out of memory.
fm_table_t *
    fm_table_new (size_t ncols);

//  Destroy; idempotent, nulls *self_p.
void
    fm_table_destroy (fm_table_t **self_p);

//  Set column heading, alignment and maximum width in cells (0 = no max:
//  longer cells are cut with an ellipsis to the max).
void
    fm_table_column (fm_table_t *self, size_t col, const char *heading,
                     fm_align_t align, size_t max_cells);

//  Add a row: ncols strings (copied; NULL prints empty).  Returns 0, or -1
//  if out of memory.
int
    fm_table_row (fm_table_t *self, const char **cells);

//  printf-style convenience: add a row from a format of ncols fields
//  separated by '\t'.  Returns 0, or -1 if out of memory or the result
//  does not have exactly ncols fields (values that may contain a tab go
//  through fm_table_row).
int
    fm_table_rowf (fm_table_t *self, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

//  Print heading, a rule of '-' under each column, and rows to file; two
//  spaces between columns, no trailing blanks.
void
    fm_table_print (fm_table_t *self, FILE *file);

//  Self test
void
    fm_text_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
