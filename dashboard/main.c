/*  =========================================================================
    finmatch-dashboard - live web dashboard of the finmatch event stream

    Subscribes to the broker's events (SUB), folds them into fm_dash, and
    serves with libmicrohttpd:
      GET /             the page (dashboard/page.html, compiled in: no
                        external asset, no CDN)
      GET /events       server-sent events: one "data: <snapshot JSON>"
                        when the figures change (at most every 100 ms per
                        client), a comment line every 15 s otherwise
      GET /api/state    the snapshot as JSON
      GET /report.html  the same figures as a self-contained HTML report
                        (finmatch report --html)
    With --db FILE the report tables come from the recorder's SQLite log
    (re-read every second) instead of the stream; the live counters and
    the recent events always come from the stream.  Banks and towns are
    named as `finmatch report` names them (--banks DIR, --towns FILE, with
    its loaders and its defaults: the installed configs and territory
    table when they exist); the log and the stream hold codes only.

    Threads: the main thread reads the SUB socket; libmicrohttpd runs one
    thread per connection (an SSE client blocks in its reader waiting for
    the next change).  One mutex guards fm_dash and the cached snapshot;
    a condition variable wakes the SSE readers.  Nothing is written to
    disk.  Runs in the foreground until SIGINT/SIGTERM; exit 0, 1 if the
    HTTP port cannot be opened, 2 on bad configuration.
    =========================================================================
*/

#include <czmq.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <microhttpd.h>
#include "fm_proto.h"
#include "fm_config.h"
#include "fm_client.h"
#include "fm_curve.h"
#include "fm_i18n.h"
#include "fm_dash.h"
#include "fm_report.h"
#include "fm_report_html.h"

#define SSE_MIN_INTERVAL_MS 100         //  coalesce bursts: ≤ 10 redraws/s
#define SSE_KEEPALIVE_MS    15000       //  comment line keeps proxies open
#define DB_REFRESH_MS       1000        //  --db: re-read the log this often
#define HTTP_CONNECTIONS    64          //  one thread each

//  The page, generated from page.html by embed.cmake; main renders it in
//  the user's language once (fm_dash_page_render) into s_page
extern const char fm_dash_page [];
extern const size_t fm_dash_page_size;
static char *s_page;                    //  owned by main
static size_t s_page_size;

static const fm_setting_t s_settings [] = {
    { "dashboard/events", "events", 'e', FM_SETTING_STRING,
      "tcp://127.0.0.1:7556", 0, 0,
      N_("broker event endpoint (XPUB) to subscribe to") },
    { "dashboard/http", "http", 0, FM_SETTING_STRING,
      "127.0.0.1:8080", 0, 0,
      N_("HTTP address:port to serve on (port 0 = any free port; * = all addresses)") },
    { "dashboard/db", "db", 'd', FM_SETTING_STRING,
      "", 0, 0,
      N_("recorder's SQLite log: bank and grid tables from it (default: from the stream)") },
    { "dashboard/banks", "banks", 0, FM_SETTING_STRING, "", 0, 0,
      N_("bank configs DIR/*.cfg that name the banks (bank/code, bank/name;"
         " deploy/banks); \"\" = /etc/finmatch/banks when it exists") },
    { "dashboard/towns", "towns", 0, FM_SETTING_STRING, "", 0, 0,
      N_("territory CSV with town_code,name columns that names the towns"
         " (deploy/data/towns.csv); \"\" = /usr/share/finmatch/data/towns.csv"
         " when it exists") },
    { "dashboard/recent", "recent", 0, FM_SETTING_INT,
      "50", 1, 1000,
      N_("recent events shown") },
    { "dashboard/cert", "cert", 0, FM_SETTING_STRING, "", 0, 0,
      N_("our secret certificate (finmatch keygen --role monitor)") },
    { "dashboard/broker_key", "broker-key", 0, FM_SETTING_STRING, "", 0, 0,
      N_("the broker's public certificate") },
    { "dashboard/insecure", "insecure", 0, FM_SETTING_BOOL, "0", 0, 0,
      N_("plain TCP, no authentication: local development only") },
    { "dashboard/verbose", NULL, 0, FM_SETTING_BOOL,
      "0", 0, 0,
      N_("log every event and HTTP request") },
};
#define SETTING_COUNT (sizeof (s_settings) / sizeof (s_settings [0]))

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;             //  broadcast when version changes
    fm_dash_t *dash;                    //  owned, under lock
    fm_report_t db_report;              //  owned, under lock; if have_db
    bool have_db;
    uint64_t version;                   //  bumped on every change
    char *snapshot;                     //  owned: JSON of cached_version
    uint64_t cached_version;
    bool stopping;
    bool verbose;
} server_t;

//  One SSE client
typedef struct {
    server_t *server;                   //  borrowed
    uint64_t sent_version;              //  what the client has
    int64_t last_sent_ms;               //  zclock_mono of the last data
    char *pending;                      //  owned: bytes not yet handed out
    size_t pending_size;
    size_t pending_off;
} stream_t;


//  --------------------------------------------------------------------------
//  The snapshot of the current version, built once per version.  Caller
//  holds the lock.  Returns a copy the caller owns, or NULL if out of
//  memory.

static char *
s_snapshot_locked (server_t *self)
{
    if (!self->snapshot || self->cached_version != self->version) {
        json_t *root = fm_dash_json (self->dash,
                                     self->have_db? &self->db_report: NULL);
        char *text = root? json_dumps (root, JSON_COMPACT): NULL;
        json_decref (root);
        if (!text)
            return NULL;
        free (self->snapshot);
        self->snapshot = text;
        self->cached_version = self->version;
    }
    return strdup (self->snapshot);
}


//  --------------------------------------------------------------------------
//  SSE reader: called by libmicrohttpd whenever it can send more.  Blocks
//  (this connection's own thread) until there is something to send.

static ssize_t
s_stream_read (void *cls, uint64_t pos, char *buf, size_t max)
{
    (void) pos;
    stream_t *stream = (stream_t *) cls;
    server_t *self = stream->server;
    if (!stream->pending) {
        pthread_mutex_lock (&self->lock);
        //  Wait for a change, or the keepalive time
        struct timespec until;
        clock_gettime (CLOCK_REALTIME, &until);
        until.tv_sec += SSE_KEEPALIVE_MS / 1000;
        int rc = 0;
        while (!self->stopping && self->version == stream->sent_version
               && rc == 0)
            rc = pthread_cond_timedwait (&self->changed, &self->lock, &until);
        if (self->stopping) {
            pthread_mutex_unlock (&self->lock);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (self->version == stream->sent_version) {
            pthread_mutex_unlock (&self->lock);
            stream->pending = strdup (": keepalive\n\n");
        }
        else {
            //  A burst of events becomes one redraw
            int64_t wait = stream->last_sent_ms + SSE_MIN_INTERVAL_MS
                         - zclock_mono ();
            if (wait > 0) {
                pthread_mutex_unlock (&self->lock);
                zclock_sleep ((int) wait);
                pthread_mutex_lock (&self->lock);
            }
            stream->sent_version = self->version;
            char *json = s_snapshot_locked (self);
            pthread_mutex_unlock (&self->lock);
            if (!json)
                return MHD_CONTENT_READER_END_WITH_ERROR;
            stream->pending = zsys_sprintf ("data: %s\n\n", json);
            free (json);
            stream->last_sent_ms = zclock_mono ();
        }
        if (!stream->pending)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        stream->pending_size = strlen (stream->pending);
        stream->pending_off = 0;
    }
    size_t size = stream->pending_size - stream->pending_off;
    if (size > max)
        size = max;
    memcpy (buf, stream->pending + stream->pending_off, size);
    stream->pending_off += size;
    if (stream->pending_off == stream->pending_size) {
        free (stream->pending);
        stream->pending = NULL;
    }
    return (ssize_t) size;
}

static void
s_stream_free (void *cls)
{
    stream_t *stream = (stream_t *) cls;
    free (stream->pending);
    free (stream);
}


//  --------------------------------------------------------------------------
//  HTTP requests

static enum MHD_Result
s_reply (struct MHD_Connection *connection, unsigned int status,
         const char *type, char *body, size_t size)
{
    //  body is malloc'd and handed to libmicrohttpd (MHD_RESPMEM_MUST_FREE)
    struct MHD_Response *response = MHD_create_response_from_buffer (
        size, body, MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free (body);
        return MHD_NO;
    }
    MHD_add_response_header (response, "Content-Type", type);
    MHD_add_response_header (response, "Cache-Control", "no-store");
    //  Everything is inline and same-origin: say so, so a page that tried
    //  to load anything from elsewhere would fail loudly in a browser
    MHD_add_response_header (response, "Content-Security-Policy",
        "default-src 'none'; connect-src 'self'; img-src data:;"
        " style-src 'unsafe-inline'; script-src 'unsafe-inline'");
    enum MHD_Result rc = MHD_queue_response (connection, status, response);
    MHD_destroy_response (response);
    return rc;
}

static enum MHD_Result
s_reply_text (struct MHD_Connection *connection, unsigned int status,
              const char *text)
{
    char *body = strdup (text);
    return body? s_reply (connection, status, "text/plain; charset=utf-8",
                          body, strlen (body))
               : MHD_NO;
}

//  A copy of count rows of size bytes at rows (NULL when count is 0).
//  Returns 0, or -1 if out of memory.
static int
s_rows_copy (void **rows_p, size_t count, size_t size)
{
    void *rows = *rows_p;
    *rows_p = NULL;
    if (count == 0)
        return 0;
    *rows_p = malloc (count * size);
    if (!*rows_p)
        return -1;
    memcpy (*rows_p, rows, count * size);
    return 0;
}

//  The current figures as a report (caller releases).  Returns 0 or -1.
static int
s_current_report (server_t *self, fm_report_t *report)
{
    pthread_mutex_lock (&self->lock);
    int rc = fm_dash_report (self->dash, report);
    if (rc == 0 && self->have_db) {
        //  Same source as the page's tables: a deep copy, since the
        //  report (and every table it owns) is released after rendering
        //  while db_report lives on
        fm_report_release (report);
        *report = self->db_report;
        int failed = s_rows_copy ((void **) &report->banks, report->bank_count,
                                  sizeof (fm_report_bank_t));
        failed |= s_rows_copy ((void **) &report->grids, report->grid_count,
                               sizeof (fm_report_grid_t));
        failed |= s_rows_copy ((void **) &report->reasons, report->reason_count,
                               sizeof (fm_report_reason_t));
        failed |= s_rows_copy ((void **) &report->towns, report->town_count,
                               sizeof (fm_report_town_t));
        failed |= s_rows_copy ((void **) &report->products, report->product_count,
                               sizeof (fm_report_product_t));
        failed |= s_rows_copy ((void **) &report->series, report->series_count,
                               sizeof (fm_report_bucket_t));
        failed |= s_rows_copy ((void **) &report->bank_names,
                               report->bank_name_count,
                               sizeof (fm_report_bank_name_t));
        if (failed) {
            fm_report_release (report);
            rc = -1;
        }
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}

static enum MHD_Result
s_on_request (void *cls, struct MHD_Connection *connection, const char *url,
              const char *method, const char *version,
              const char *upload_data, size_t *upload_data_size,
              void **req_cls)
{
    (void) version;
    (void) upload_data;
    (void) req_cls;
    server_t *self = (server_t *) cls;
    if (self->verbose)
        zsys_debug ("%s %s", method, url);
    if (!streq (method, "GET") && !streq (method, "HEAD"))
        return s_reply_text (connection, MHD_HTTP_METHOD_NOT_ALLOWED,
                             "only GET\n");
    if (*upload_data_size)
        return s_reply_text (connection, MHD_HTTP_BAD_REQUEST, "no body\n");

    if (streq (url, "/") || streq (url, "/index.html")) {
        char *body = (char *) malloc (s_page_size);
        if (!body)
            return MHD_NO;
        memcpy (body, s_page, s_page_size);
        return s_reply (connection, MHD_HTTP_OK, "text/html; charset=utf-8",
                        body, s_page_size);
    }
    if (streq (url, "/api/state")) {
        pthread_mutex_lock (&self->lock);
        char *json = s_snapshot_locked (self);
        pthread_mutex_unlock (&self->lock);
        if (!json)
            return MHD_NO;
        return s_reply (connection, MHD_HTTP_OK,
                        "application/json; charset=utf-8", json, strlen (json));
    }
    if (streq (url, "/report.html")) {
        fm_report_t report;
        if (s_current_report (self, &report))
            return MHD_NO;
        char *body = NULL;
        size_t size = 0;
        FILE *file = open_memstream (&body, &size);
        int rc = file? fm_report_html (&report, "finmatch-dashboard", file): -1;
        if (file)
            fclose (file);
        fm_report_release (&report);
        if (rc) {
            free (body);
            return MHD_NO;
        }
        return s_reply (connection, MHD_HTTP_OK, "text/html; charset=utf-8",
                        body, size);
    }
    if (streq (url, "/events")) {
        stream_t *stream = (stream_t *) zmalloc (sizeof (stream_t));
        if (!stream)
            return MHD_NO;
        stream->server = self;
        stream->sent_version = UINT64_MAX;      //  first call sends at once
        struct MHD_Response *response = MHD_create_response_from_callback (
            MHD_SIZE_UNKNOWN, 32 * 1024, s_stream_read, stream, s_stream_free);
        if (!response) {
            free (stream);
            return MHD_NO;
        }
        MHD_add_response_header (response, "Content-Type",
                                 "text/event-stream; charset=utf-8");
        MHD_add_response_header (response, "Cache-Control", "no-store");
        enum MHD_Result rc = MHD_queue_response (connection, MHD_HTTP_OK,
                                                 response);
        MHD_destroy_response (response);
        return rc;
    }
    return s_reply_text (connection, MHD_HTTP_NOT_FOUND, "not found\n");
}


//  --------------------------------------------------------------------------
//  "host:port" into an IPv4 socket address ("*" = any).  Returns 0 or -1.

static int
s_parse_listen (const char *text, struct sockaddr_in *address)
{
    memset (address, 0, sizeof *address);
    address->sin_family = AF_INET;
    const char *colon = strrchr (text, ':');
    if (!colon || colon == text || colon - text > 63)
        return -1;
    char host [64];
    memcpy (host, text, (size_t) (colon - text));
    host [colon - text] = 0;
    char *end = NULL;
    long port = strtol (colon + 1, &end, 10);
    if (!*(colon + 1) || *end || port < 0 || port > 65535)
        return -1;
    address->sin_port = htons ((uint16_t) port);
    if (streq (host, "*"))
        address->sin_addr.s_addr = htonl (INADDR_ANY);
    else
    if (inet_pton (AF_INET, host, &address->sin_addr) != 1)
        return -1;
    return 0;
}

//  Re-read the log into the server (outside the lock, then swap)
static void
s_refresh_db (server_t *self, const char *path)
{
    fm_report_t report;
    char err [512];
    if (fm_report_compute_path (path, &report, err, sizeof err)) {
        static int64_t warned_at = 0;
        if (zclock_mono () - warned_at > 60000) {
            zsys_warning ("%s (tables keep their last values)", err);
            warned_at = zclock_mono ();
        }
        return;
    }
    pthread_mutex_lock (&self->lock);
    //  Named under the lock: the names live in fm_dash
    if (fm_dash_name_report (self->dash, &report))
        zsys_error ("out of memory: banks and towns shown by code");
    bool same = self->have_db && report.events == self->db_report.events
             && report.last_ts_us == self->db_report.last_ts_us;
    fm_report_release (&self->db_report);
    self->db_report = report;
    self->have_db = true;
    if (!same) {
        self->version++;
        pthread_cond_broadcast (&self->changed);
    }
    pthread_mutex_unlock (&self->lock);
}


int
main (int argc, char **argv)
{
    fm_config_t *config;
    int rc = fm_config_daemon ("finmatch-dashboard", "[OPTIONS]",
                               s_settings, SETTING_COUNT, argc, argv, &config);
    if (rc != 0)
        return rc == 1? 0: 2;
    struct sockaddr_in address;
    if (s_parse_listen (fm_config_str (config, "dashboard/http"), &address)) {
        fprintf (stderr, _("finmatch-dashboard: --http '%s' is not"
                 " IPV4-ADDRESS:PORT\n"), fm_config_str (config, "dashboard/http"));
        rc = -1;
    }
    if (rc != 0) {
        fm_config_destroy (&config);
        return 2;
    }
    const char *events = fm_config_str (config, "dashboard/events");
    const char *db = fm_config_str (config, "dashboard/db");
    //  The language is settled now (--lang, LANG...): the page follows it
    s_page = fm_dash_page_render (fm_dash_page, fm_dash_page_size, &s_page_size);
    if (!s_page) {
        fm_config_destroy (&config);
        return 1;
    }

    server_t self;
    memset (&self, 0, sizeof self);
    pthread_mutex_init (&self.lock, NULL);
    pthread_cond_init (&self.changed, NULL);
    self.verbose = fm_config_bool (config, "dashboard/verbose");
    self.dash = fm_dash_new ((size_t) fm_config_int (config, "dashboard/recent"));
    assert (self.dash);
    //  Bank and town names as `finmatch report` finds them: as asked,
    //  else the installed configs and territory table when they exist;
    //  one that cannot be read is bad configuration, as in the report
    const char *banks = fm_config_str (config, "dashboard/banks");
    const char *towns = fm_config_str (config, "dashboard/towns");
    if (!*banks && zsys_file_exists (FM_REPORT_BANKS_DIR))
        banks = FM_REPORT_BANKS_DIR;
    if (!*towns && zsys_file_exists (FM_REPORT_TOWNS_FILE))
        towns = FM_REPORT_TOWNS_FILE;
    char err [512];
    if (fm_dash_set_names (self.dash, *banks? banks: NULL, *towns? towns: NULL,
                           err, sizeof err)) {
        fprintf (stderr, "finmatch-dashboard: %s\n", err);
        fm_dash_destroy (&self.dash);
        fm_config_destroy (&config);
        free (s_page);
        return 2;
    }
    if (*banks || *towns)
        zsys_info ("names: banks from %s, towns from %s", *banks? banks: "-",
                   *towns? towns: "-");

    //  The event stream admits monitor keys only (proto/SPEC.md "Security")
    fm_curve_t *curve = NULL;
    if (fm_curve_setup ("finmatch-dashboard",
                        fm_config_bool (config, "dashboard/insecure"),
                        fm_config_str (config, "dashboard/cert"),
                        fm_config_str (config, "dashboard/broker_key"), &curve)) {
        fm_dash_destroy (&self.dash);
        fm_config_destroy (&config);
        free (s_page);
        return 2;
    }
    zsock_t *sub = fm_events_subscribe_secure (events, "", curve);
    fm_curve_destroy (&curve);
    if (!sub) {
        fprintf (stderr, _("finmatch-dashboard: invalid events endpoint '%s'\n"),
                 events);
        fm_dash_destroy (&self.dash);
        fm_config_destroy (&config);
        free (s_page);
        return 2;
    }
    struct MHD_Daemon *daemon = MHD_start_daemon (
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION
        | MHD_USE_ERROR_LOG,
        0, NULL, NULL, s_on_request, &self,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &address,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int) HTTP_CONNECTIONS,
        MHD_OPTION_END);
    if (!daemon) {
        zsys_error ("cannot serve HTTP on %s: %s",
                    fm_config_str (config, "dashboard/http"), strerror (errno));
        zsock_destroy (&sub);
        fm_dash_destroy (&self.dash);
        fm_config_destroy (&config);
        free (s_page);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (
        daemon, MHD_DAEMON_INFO_BIND_PORT);
    char host [INET_ADDRSTRLEN] = "127.0.0.1";
    if (address.sin_addr.s_addr != htonl (INADDR_ANY))
        inet_ntop (AF_INET, &address.sin_addr, host, sizeof host);
    //  The URL on stdout, alone on its line: scripts that asked for port 0
    //  read it from there
    printf ("http://%s:%u/\n", host, info? info->port: 0);
    fflush (stdout);
    zsys_info ("serving http://%s:%u/ (events from %s%s%s)", host,
               info? info->port: 0, events, *db? ", tables from ": "", db);

    zpoller_t *poller = zpoller_new (sub, NULL);
    assert (poller);
    int64_t db_due = 0;
    while (!zsys_interrupted) {
        if (*db && zclock_mono () >= db_due) {
            s_refresh_db (&self, db);
            db_due = zclock_mono () + DB_REFRESH_MS;
        }
        if (!zpoller_wait (poller, 100)) {
            if (zpoller_terminated (poller))
                break;
            continue;
        }
        //  Drain what is there, then wake the readers once
        int burst = 0;
        do {
            fm_event_t event;
            fm_error_t err = { 0, "" };
            int got = fm_events_recv (sub, &event, &err);
            if (got == 1)
                continue;       //  a batch: its events come alone too
            if (got != 0 && err.status == 0)
                break;          //  interrupted
            pthread_mutex_lock (&self.lock);
            if (got == 0) {
                if (self.verbose)
                    zsys_debug ("event %" PRIu64 " %s %s", event.seq,
                                fm_event_type_name (event.type),
                                event.request_id);
                if (fm_dash_apply (self.dash, &event))
                    zsys_error ("out of memory: figures may be low");
            }
            else
                fm_dash_malformed (self.dash);
            self.version++;
            pthread_mutex_unlock (&self.lock);
            if (got != 0)
                zsys_warning ("malformed event (%u): %s", err.status, err.text);
        } while (++burst < 1000 && !zsys_interrupted
                 && (zsock_events (sub) & ZMQ_POLLIN));
        pthread_mutex_lock (&self.lock);
        pthread_cond_broadcast (&self.changed);
        pthread_mutex_unlock (&self.lock);
    }

    //  Wake every SSE reader so its connection ends, then stop the server
    //  (which joins the connection threads)
    pthread_mutex_lock (&self.lock);
    self.stopping = true;
    pthread_cond_broadcast (&self.changed);
    pthread_mutex_unlock (&self.lock);
    MHD_stop_daemon (daemon);
    zpoller_destroy (&poller);
    zsock_destroy (&sub);
    zsys_info ("stopped after %" PRIu64 " events", fm_dash_generation (self.dash));
    fm_dash_destroy (&self.dash);
    fm_report_release (&self.db_report);
    free (self.snapshot);
    pthread_cond_destroy (&self.changed);
    pthread_mutex_destroy (&self.lock);
    fm_config_destroy (&config);
    free (s_page);
    return 0;
}
