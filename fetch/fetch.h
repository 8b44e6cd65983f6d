/* fetch/ — everything that talks to a registry: image references, HTTP
 * (the only libcurl user), authentication, manifests and indexes, blobs.
 * Never extracts and never touches the store: blob bytes go to a callback
 * the caller gives.  Nothing here prints; notices (a source skipped, a
 * retry) go to the caller's fetch_opts.notice callback.
 *
 * FETCH INVARIANTS
 * (1) every buffer filled from the network has a ceiling (manifests
 *     FETCH_MANIFEST_MAX, tokens and error bodies FETCH_SMALL_MAX, headers);
 *     blob bodies are never buffered, they stream to the caller.
 * (2) a blob is reported complete only after its size and sha256 matched;
 *     the caller's sink sees each byte of the blob at most once and in order.
 * (3) credentials (Basic, or a bearer token) are sent only to the host they
 *     belong to: a redirect to another host is followed without them, and a
 *     mirror never gets the upstream's credentials.
 * (4) sources are tried in the order given (mirrors, then the upstream); a
 *     mirror that fails (transport, timeout, slower than its min_speed,
 *     401/404/5xx, content that fails verification) is marked dead for the rest of the client's life and
 *     never tried again, with one notice given when a later source answers;
 *     when none does, the error names every source and why instead.
 *
 * Error convention as in util/util.h: 0 or -errno with @e set. */
#ifndef STRATA_FETCH_H
#define STRATA_FETCH_H

#include "util/util.h"

#include <signal.h>

#define FETCH_MANIFEST_MAX (4u << 20)   /* manifests, indexes, configs */
#define FETCH_SMALL_MAX (1u << 20)      /* tokens, error bodies, config.json */

/* ------------------------------------------------------------ references */

/* A parsed, normalized reference.  ref_parse("ubuntu") gives
 * { "docker.io", "library/ubuntu", "latest", NULL }.  When the text pins a
 * digest and names no tag, tag is NULL; both may be set ("x:1@sha256:..."),
 * then the digest decides what is pulled (as docker does). */
struct image_ref {
        char *registry;      /* "docker.io", "127.0.0.1:5000", "[::1]:5000" */
        char *repo;          /* "library/ubuntu" */
        char *tag;           /* "latest", or NULL */
        char *digest;        /* "sha256:<hex>", or NULL */
};

/* ref_parse() - parse and normalize @s ([REGISTRY[:PORT]/]NAME[:TAG][@DIGEST],
 * the grammar of distribution/reference).  On failure *@out is zeroed and @e
 * names the broken rule ("invalid reference \"X\": repository name must be
 * lowercase").  -EINVAL for any grammar error. */
int ref_parse(const char *s, struct image_ref *out, struct err *e);
void ref_free(struct image_ref *r);                  /* accepts zeroed */
/* ref_name() - the store's key: "REGISTRY/REPO@DIGEST" when pinned, else
 * "REGISTRY/REPO:TAG".  ref_repo_name() - "REGISTRY/REPO".  Caller frees. */
char *ref_name(const struct image_ref *r);
char *ref_repo_name(const struct image_ref *r);
/* ref_familiar() - docker's short display form: "ubuntu:latest",
 * "joe/app:1", "127.0.0.1:5000/x:1", "...@sha256:..." when pinned without tag.
 * Caller frees. */
char *ref_familiar(const struct image_ref *r);
/* ref_api_host() - the host to talk to: registry-1.docker.io for docker.io. */
const char *ref_api_host(const struct image_ref *r);
/* ref_is_loopback_host() - true for 127.0.0.0/8, ::1 and localhost (with any
 * port): registries that may be spoken to over plain HTTP. */
bool ref_is_loopback_host(const char *hostport);

/* ------------------------------------------------------------- manifests */

#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_SCHEMA1  "application/vnd.docker.distribution.manifest.v1+json"
#define MT_DOCKER_SCHEMA1S "application/vnd.docker.distribution.manifest.v1+prettyjws"
#define MT_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX       "application/vnd.oci.image.index.v1+json"
/* What a manifest GET accepts (one Accept header value). */
#define FETCH_ACCEPT_MANIFESTS MT_OCI_INDEX ", " MT_DOCKER_LIST ", " MT_OCI_MANIFEST ", " MT_DOCKER_MANIFEST

struct platform {
        char *os, *arch, *variant;   /* variant may be NULL */
};

struct descriptor {
        char *media_type;
        char *digest;                /* validated "sha256:<hex>" */
        uint64_t size;
        struct platform platform;    /* index entries only; zeroed otherwise */
};

enum manifest_kind { MANIFEST_IMAGE, MANIFEST_INDEX };

struct manifest {
        enum manifest_kind kind;
        char *media_type;            /* resolved: from the body, else Content-Type */
        struct descriptor config;    /* MANIFEST_IMAGE */
        size_t n_layers;
        struct descriptor *layers;   /* MANIFEST_IMAGE, bottom first */
        size_t n_manifests;
        struct descriptor *manifests;/* MANIFEST_INDEX */
};

/* manifest_parse() - parse a manifest or index body of @len bytes; @content_type
 * (may be NULL) is the HTTP Content-Type, used when the body has no
 * mediaType.  Schema 1 is refused (-ENOTSUP, "Docker schema 1 manifests are
 * not supported...").  Digests must be sha256; sizes non-negative. */
int manifest_parse(const char *body, size_t len, const char *content_type,
                   struct manifest **out, struct err *e);
void manifest_free(struct manifest *m);              /* accepts NULL */
static inline void manifest_freep(struct manifest **m) { manifest_free(*m); }

/* platform_parse() - "os/arch[/variant]" into @p, lowercased and
 * normalized like docker (containerd's platforms.Parse): "x86_64" → amd64,
 * "aarch64" → arm64, "armhf" → arm/v7, "armel" → arm/v6; arm64's "v8" kept
 * as given.  One part is an OS ("linux": the host's arch) or an arch
 * ("arm64": linux/arm64).  -EINVAL otherwise. */
int platform_parse(const char *s, struct platform *p, struct err *e);
/* platform_matches() - @have (an image's) serves @want: os and arch equal,
 * the variant equal or not asked for (arm64: "" and "v8" alike). */
bool platform_matches(const struct platform *have, const struct platform *want);
/* platform_host() - the host's platform (linux/amd64, linux/arm64/v8...). */
void platform_host(struct platform *p);
void platform_free(struct platform *p);
/* platform_str() - "os/arch[/variant]"; caller frees. */
char *platform_str(const struct platform *p);
/* manifest_select() - the entry of index @m that matches @want (an exact
 * variant match is preferred; arm64 treats "" and "v8" alike; a missing
 * requested variant matches any).  -ENOENT naming the platforms on offer. */
int manifest_select(const struct manifest *m, const struct platform *want,
                    const struct descriptor **out, struct err *e);

/* The parts of an image config a pull needs. */
struct image_config {
        size_t n_diff_ids;
        char **diff_ids;             /* rootfs.diff_ids, bottom first */
        char *os, *arch, *variant;
        long long created;           /* seconds since the epoch, 0 when absent */
};
/* config_parse() - parse an image config blob (a JSON object). */
int config_parse(const char *body, size_t len, struct image_config *out, struct err *e);
void config_free(struct image_config *c);            /* accepts zeroed */

/* -------------------------------------------------------- authentication */

/* A parsed WWW-Authenticate challenge (the first one the header offers). */
struct www_auth {
        char *scheme;                /* "bearer" or "basic", lowercased */
        char *realm, *service, *scope, *error;   /* each may be NULL */
};
/* wwwauth_parse() - parse a WWW-Authenticate header value (RFC 7235
 * auth-params, quoted strings with backslash escapes).  -EINVAL on garbage. */
int wwwauth_parse(const char *hdr, struct www_auth *out, struct err *e);
void wwwauth_free(struct www_auth *w);               /* accepts zeroed */

/* dockerconfig_lookup() - credentials for @registry ("docker.io",
 * "host:port") in a ~/.docker/config.json body: "auths" keyed by the host,
 * "https://host", "http://host", or for Docker Hub
 * "https://index.docker.io/v1/"; the entry's base64 "auth" ("user:pass") or
 * "username"/"password".  0 and *@user and *@pass set (caller frees), -ENOENT
 * when there is no entry, -EINVAL (naming the key) when malformed. */
int dockerconfig_lookup(const char *json, size_t len, const char *registry,
                        char **user, char **pass, struct err *e);

/* -------------------------------------------------------------- sources */

/* One place the content can come from.  A pull tries its sources in order:
 * the mirrors, then the upstream. */
struct fetch_source {
        char *url;          /* base URL without /v2: "https://mirror.example", "http://127.0.0.1:5000" */
        char *host;         /* "host[:port]" of url: certs.d and credentials key */
        bool mirror;        /* false only for the upstream */
        long connect_timeout_s, stall_timeout_s;   /* 0 = the fetch_opts' */
        /* bytes/s averaged over min_speed_time_s: a mirror slower than that is
         * dropped like a dead one (the next source resumes where it stopped);
         * the upstream is never dropped for it, its slowness is told once.
         * 0: no such rule (a mirror must only not stall). */
        long min_speed, min_speed_time_s;
        char **certs_dirs;  /* existing CERTS_DIR/HOST[:PORT] directories (CA *.crt, client *.cert + *.key) */
        size_t n_certs_dirs;
};
void fetch_sources_free(struct fetch_source *s, size_t n);

/* Per-registry configuration ("registries": {HOST: {...}} in strata's file). */
struct fetch_registry_conf {
        const char *host;          /* "HOST[:PORT]" as in references ("docker.io" for the Hub) */
        char **mirrors;            /* URLs, in order */
        size_t n_mirrors;
        bool insecure;             /* plain HTTP allowed */
};

/* Configuration that decides the sources.  Every pointer is borrowed. */
struct fetch_config {
        char **mirrors;            /* Docker Hub mirrors, URLs, in order */
        size_t n_mirrors;
        char **insecure;           /* "host[:port]" allowed over plain HTTP */
        size_t n_insecure;
        const struct fetch_registry_conf *registries;
        size_t n_registries;
        long mirror_connect_timeout_s;   /* 0 = 3 s */
        long mirror_stall_timeout_s;     /* 0 = 5 s */
        long mirror_min_speed;           /* bytes/s over the stall timeout; 0 = 10240, < 0 = no rule */
        char **certs_dirs;         /* directories holding HOST[:PORT]/ subdirectories, in order */
        size_t n_certs_dirs;
};
/* fetch_sources_for() - the ordered sources for @ref under @cfg (may be
 * NULL): the mirrors (for Docker Hub "registry-mirrors" then the registry's
 * own entry; for any other registry its entry's "mirrors"), each with the
 * mirror timeouts and minimum speed; then the upstream (the minimum speed
 * too, to tell its slowness) with https://, or http:// for
 * insecure registries and for loopback ones (unless a certs directory
 * exists for the loopback host: then https://).  A mirror is addressed like dockerd
 * does: MIRROR/v2/REPO/... (library/ included for Docker Hub).  An http://
 * mirror URL is used as written (the user's explicit choice, as in dockerd).
 * No I/O beyond stat() of the certs directories.  *@out is an array of *@n
 * (free with fetch_sources_free()). */
int fetch_sources_for(const struct image_ref *ref, const struct fetch_config *cfg,
                      struct fetch_source **out, size_t *n, struct err *e);

/* --------------------------------------------------------------- client */

struct fetch_opts {
        long connect_timeout_s;    /* 0 = 10 s */
        long stall_timeout_s;      /* no byte for this long = failure; 0 = 30 s */
        int retries;               /* extra attempts on transient failures; <0 = 0, 0 = default 3 */
        const char *docker_config; /* path of config.json; NULL = $DOCKER_CONFIG/config.json or ~/.docker/config.json */
        const char *auth_file;     /* strata's own, read first; NULL = fetch_auth_file_default() */
        const char *user_agent;    /* NULL = "strata" */
        /* notice() - one line worth telling the user ("mirror X skipped: ...").
         * May be called from any thread; may be NULL. */
        void (*notice)(void *ctx, const char *line);
        void *notice_ctx;
        /* cancel - may be NULL; once *cancel is non-zero (set by a signal
         * handler: Ctrl-C) every request stops within about a second and
         * returns -EINTR ("interrupted"); no source is dropped for it and
         * the bytes already given to a sink stand (a later run resumes). */
        const volatile sig_atomic_t *cancel;
};

struct registry;        /* a client for one repository over its sources; thread-safe */
struct fetch_conn;      /* one connection (a curl easy handle); one thread at a time */

/* registry_open() - a client for @ref's repository over @srcs (copied).
 * Does no I/O.  Credentials are looked up per source host. */
int registry_open(const struct image_ref *ref, const struct fetch_source *srcs, size_t n,
                  const struct fetch_opts *o, struct registry **out, struct err *e);
void registry_close(struct registry *r);             /* accepts NULL */
static inline void registry_closep(struct registry **r) { registry_close(*r); }

struct fetch_conn *fetch_conn_new(void);
void fetch_conn_free(struct fetch_conn *c);          /* accepts NULL */
static inline void fetch_conn_freep(struct fetch_conn **c) { fetch_conn_free(*c); }

/* registry_get_manifest() - GET /v2/REPO/manifests/@reference (a tag or a
 * digest) with the Accept list above, bounded by FETCH_MANIFEST_MAX.  The
 * body goes to @body (a buf the caller owns; its max is raised to the
 * ceiling when 0), the Content-Type to *@content_type (caller frees) and the
 * body's sha256 to @digest.  When @reference is a digest, a body with another
 * digest is refused (-EBADMSG) and the next source tried; so is a body that
 * does not match its Docker-Content-Digest or does not parse as a manifest.
 * A registry error is given by its message ("manifest unknown"), -ENOENT for
 * 404.  When every source failed, one message names each with its reason. */
int registry_get_manifest(struct registry *r, struct fetch_conn *c, const char *reference,
                          struct buf *body, char **content_type,
                          char digest[DIGEST_STR_LEN + 1], struct err *e);
/* registry_manifest_source() - the URL of the source that answered the last
 * successful registry_get_manifest() (which source resolved a tag), or NULL. */
const char *registry_manifest_source(struct registry *r);

/* registry_get_small_blob() - a blob small enough for memory (a config):
 * at most FETCH_MANIFEST_MAX bytes, size and digest checked. */
int registry_get_small_blob(struct registry *r, struct fetch_conn *c, const struct descriptor *d,
                            struct buf *body, struct err *e);

/* registry_list_tags() - the repository's tags (GET /v2/REPO/tags/list), in
 * the registry's order, from the registry itself: a mirror (a pull-through
 * cache) knows only the tags it was asked for.  Follows Link rel="next"
 * (FETCH_TAGS_PAGES pages of FETCH_TAGS_BODY_MAX bytes at most); each tag is
 * checked against the reference grammar; at most FETCH_TAGS_MAX (-EFBIG
 * past it).  *@tags is NULL-terminated; the caller frees each and the array. */
#define FETCH_TAGS_MAX 10000
#define FETCH_TAGS_PAGES 100
#define FETCH_TAGS_BODY_MAX (4u << 20)
int registry_list_tags(struct registry *r, struct fetch_conn *c, char ***tags, size_t *n, struct err *e);

/* A blob sink: gets each byte once, in order; returns 0 or -errno (which
 * aborts the transfer, with @e set by the sink or "write blob" otherwise). */
typedef int (*fetch_sink_fn)(void *ctx, const void *p, size_t n);

/* registry_get_blob() - stream blob @digest of @size bytes, starting at
 * @offset (the caller already holds bytes [0, @offset) and has fed them to
 * @h, an initialized sha256).  Asks for the rest with a Range request; when a
 * server ignores Range, the first @offset bytes of its answer are skipped.
 * Transient failures are retried with backoff, resuming where the sink
 * stopped; a failing mirror is skipped for the next source.  At the end the
 * size and the digest are checked (-EBADMSG "digest mismatch" naming @digest;
 * @h is finished in every case).  -EAGAIN: bytes from a mirror failed
 * verification; that mirror is dropped and the caller must start the blob
 * again from offset 0 (the next call uses the next source).  *@got (may be NULL) counts the bytes given
 * to the sink. */
int registry_get_blob(struct registry *r, struct fetch_conn *c, const char *digest, uint64_t size,
                      uint64_t offset, struct sha256 *h, fetch_sink_fn sink, void *ctx,
                      uint64_t *got, struct err *e);

/* fetch_registry_error() - the message of a registry's JSON error body
 * ({"errors":[{"code":..,"message":..}]}), lowercased like docker prints it,
 * into @out; false when the body is not one.  Exposed for the tests. */
bool fetch_registry_error(const char *body, size_t len, char *out, size_t outlen);

/* ------------------------------------------------------------- upload */

/* A push (fetch/upload.c) talks to the registry itself, never to a mirror,
 * with the credentials, TLS and certs.d of a pull from it.
 * UPLOAD INVARIANTS
 * (1) a blob is asked for first (HEAD); one the repository has is not sent,
 *     one that another repository of the registry has is mounted from it.
 * (2) blob bytes are streamed from the caller's file, never held in memory;
 *     the registry checks them against the digest of the final PUT.
 * (3) the manifest goes last: a push cut short never makes a tag point at
 *     an image with missing blobs. */

#define FETCH_PUSH_CHUNK_DEFAULT (64ull << 20)   /* blobs larger than this go in PATCH chunks */
#define FETCH_PUSH_CHUNK_FLOOR (64ull << 10)     /* a registry's 413 never halves a chunk below this */

/* registry_open_push() - a client for pushing to @ref's repository through
 * @upstream alone (the last of fetch_sources_for()); its tokens ask for
 * "repository:REPO:pull,push" (and the challenge's scopes after a 401: a
 * mount's source repository). */
int registry_open_push(const struct image_ref *ref, const struct fetch_source *upstream,
                       const struct fetch_opts *o, struct registry **out, struct err *e);

enum blob_push_result { BLOB_PUSHED, BLOB_EXISTS, BLOB_MOUNTED };

struct blob_push {
        const char *digest;           /* "sha256:..." of the bytes in @fd */
        uint64_t size;
        int fd;                       /* the blob, read with pread from offset 0 */
        char *const *mount_from;      /* repositories of this registry that may hold it */
        size_t n_mount_from;
        uint64_t chunk;               /* larger blobs go in chunks of this; 0 = FETCH_PUSH_CHUNK_DEFAULT */
        /* progress() - @done of @size bytes are with the registry (may go back after a failure) */
        void (*progress)(void *ctx, uint64_t done, uint64_t size);
        void *ctx;
        /* set by registry_push_blob() */
        enum blob_push_result result;
        const char *mounted_from;     /* BLOB_MOUNTED: one of @mount_from */
        uint64_t sent;                /* blob bytes sent, every attempt counted */
};

/* registry_push_blob() - make @b->digest present in the repository: HEAD;
 * else a mount from each of @b->mount_from in turn (POST ?mount=&from=);
 * else an upload: POST, then one PUT ?digest= with the bytes when they fit
 * in a chunk (and the registry takes a request that large), else PATCH
 * chunks (at least the registry's OCI-Chunk-Min-Length; a 413 halves them)
 * and an empty PUT ?digest=.  A failed chunk is retried from the offset the
 * registry reports (GET of the upload); a failed PUT starts a new upload.
 * 401/403: -EACCES "denied: requested access to the resource is denied". */
int registry_push_blob(struct registry *r, struct fetch_conn *c, struct blob_push *b, struct err *e);

/* registry_put_manifest() - PUT /v2/REPO/manifests/@reference with @body
 * (exactly these bytes) and Content-Type @media_type.  The registry's
 * Docker-Content-Digest, when sent, must be the body's sha256. */
int registry_put_manifest(struct registry *r, struct fetch_conn *c, const char *reference,
                          const char *media_type, const void *body, size_t len, struct err *e);

/* manifest_convert() - image manifest @body rewritten in the other format
 * (@to_oci: OCI, else Docker schema 2), the blobs unchanged: the manifest's
 * and config's media types, each layer's by its compression (tar, gzip;
 * docker "foreign" <-> OCI "nondistributable"); for Docker the fields it has
 * no place for (annotations, subject, artifactType) are dropped.  A body
 * already in that format is copied as it is (the digest stays).  -ENOTSUP
 * naming what has no counterpart (a zstd layer for Docker, an artifact's
 * config).  *@out (caller frees) holds *@len bytes. */
int manifest_convert(const char *body, size_t len, bool to_oci, char **out, size_t *out_len, struct err *e);

/* manifest_replace_layers() - image manifest @body with layer @i's digest,
 * size and media type taken from @layers[i] (@n must be its number of
 * layers); everything else kept.  *@out (caller frees) holds *@out_len bytes. */
int manifest_replace_layers(const char *body, size_t len, const struct descriptor *layers, size_t n,
                            char **out, size_t *out_len, struct err *e);
/* manifest_layer_type() - the media type of a layer compressed with @comp
 * ("gzip", "zstd") in a manifest of type @manifest_type; NULL when that
 * format has none (zstd in Docker's). */
const char *manifest_layer_type(const char *manifest_type, const char *comp);
/* manifest_layer_comp() - "gzip", "zstd" or "none" for a layer media type
 * of either format; NULL for others (and for foreign/nondistributable ones). */
const char *manifest_layer_comp(const char *media_type);

/* upload_chunk_size() - the chunk size for a blob: @want (0 = the default),
 * raised to the registry's @min (OCI-Chunk-Min-Length, 0 = none).  Exposed
 * for the tests. */
uint64_t upload_chunk_size(uint64_t want, uint64_t min);

/* ---------------------------------------------------------- credentials */

/* Credentials for a host are looked up, first hit wins, in: strata's auth
 * file (fetch_opts.auth_file), then Docker's config.json: credHelpers[HOST],
 * else credsStore (each through `docker-credential-NAME get`, skipped when
 * the program is not on PATH), else its "auths".  They are sent only to that
 * host (invariant 3). */

/* fetch_auth_file_default() - $STRATA_AUTH_FILE, else
 * $XDG_CONFIG_HOME/strata/auth.json, else ~/.config/strata/auth.json.
 * Caller frees; NULL when there is no HOME either. */
char *fetch_auth_file_default(void);
/* fetch_docker_config_default() - $DOCKER_CONFIG/config.json, else
 * ~/.docker/config.json; caller frees; NULL without HOME. */
char *fetch_docker_config_default(void);
/* fetch_credentials_describe() - where credentials for @host would come from,
 * without running any helper or touching the network: "none", "basic from
 * FILE", "helper NAME (docker-credential-NAME)".  Caller frees. */
char *fetch_credentials_describe(const struct fetch_opts *o, const char *host);
/* fetch_login() - check @user/@pass against @src (the registry's upstream
 * source) the way docker login does: GET /v2/, then Basic, or a token from
 * the Bearer challenge's realm with the credentials.  -EACCES when refused. */
int fetch_login(const struct fetch_source *src, const char *user, const char *pass,
                const struct fetch_opts *o, struct err *e);
/* fetch_authfile_store() - record @user/@pass for @registry in the auth file
 * @path (Docker's {"auths": {KEY: {"auth": base64}}}; the Hub's key is
 * "https://index.docker.io/v1/"), other entries kept; written atomically with
 * mode 0600, parent directories made 0700. */
int fetch_authfile_store(const char *path, const char *registry, const char *user,
                         const char *pass, struct err *e);
/* fetch_authfile_remove() - drop @registry's entry; -ENOENT when none. */
int fetch_authfile_remove(const char *path, const char *registry, struct err *e);

/* --------------------------------------------------------------- search */

#define FETCH_SEARCH_MAX 100           /* results of one search, at most */
#define FETCH_CATALOG_PAGES 50         /* /v2/_catalog pages followed, at most */

struct search_result {
        char *name, *description;       /* description may be "" */
        long long stars;
        bool official, automated;
};
void search_results_free(struct search_result *r, size_t n);   /* accepts NULL */
/* fetch_search_index() - Docker Hub's v1 search: GET @index/v1/search?q=TERM&n=LIMIT
 * (@index like "https://index.docker.io").  At most @limit (1..100) results. */
int fetch_search_index(const char *index, const char *term, int limit, const struct fetch_opts *o,
                       struct search_result **out, size_t *n, struct err *e);
/* fetch_search_catalog() - the repositories of @src's /v2/_catalog whose name
 * contains @term, following Link: <...>; rel="next" (FETCH_CATALOG_PAGES
 * pages at most), with the registry's credentials; at most @limit. */
int fetch_search_catalog(const struct fetch_source *src, const char *term, int limit,
                         const struct fetch_opts *o, struct search_result **out, size_t *n,
                         struct err *e);

/* fetch_url() - GET @url (http:// or https://, redirects followed) and hand
 * the body to @sink (strata import URL).  @o may be NULL.  A non-2xx answer
 * is an error naming the status (-ENOENT for 404). */
int fetch_url(const char *url, const struct fetch_opts *o, fetch_sink_fn sink, void *ctx, struct err *e);

#endif
