/* A plain GET of a URL (strata import URL): the body to a sink. */
#include "fetch-internal.h"

#include <string.h>

int fetch_url(const char *url, const struct fetch_opts *o, fetch_sink_fn sink, void *ctx, struct err *e)
{
        if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
                return err_setx(e, EINVAL, "%s: only http:// and https:// URLs", url);
        fetch_global_init();
        _cleanup_(fetch_conn_freep) struct fetch_conn *c = fetch_conn_new();
        struct http_req rq = { .url = url, .sink = sink, .sink_ctx = ctx,
                               .connect_timeout_s = o ? o->connect_timeout_s : 0,
                               .stall_timeout_s = o ? o->stall_timeout_s : 0,
                               .user_agent = o ? o->user_agent : NULL };
        struct http_resp rs;
        int r = http_do(c, &rq, &rs, e);
        if (r >= 0 && (rs.status < 200 || rs.status >= 300))
                r = err_setx(e, rs.status == 404 ? ENOENT : EIO, "GET %s: HTTP status %ld", url, rs.status);
        http_resp_free(&rs);
        return r;
}
