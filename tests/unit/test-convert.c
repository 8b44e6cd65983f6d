/* fetch/convert.c: manifest_convert() for `strata push --format`, and
 * upload_chunk_size(). */
#include "fetch/fetch.h"
#include "tests/unit/tap.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define DA "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DB "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define DC "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

static const char *docker =
        "{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_MANIFEST "\","
        "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"size\":7,\"digest\":\"" DA "\"},"
        "\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"size\":100,\"digest\":\"" DB "\"},"
        "{\"mediaType\":\"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip\",\"size\":200,\"digest\":\"" DC "\","
        "\"urls\":[\"https://example.com/x\"]}]}";

static const char *oci =
        "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"size\":7,\"digest\":\"" DA "\"},"
        "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"size\":100,\"digest\":\"" DB "\","
        "\"annotations\":{\"a\":\"b\"}},"
        "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"size\":200,\"digest\":\"" DC "\"}],"
        "\"annotations\":{\"org.opencontainers.image.created\":\"2020\"}}";

static const char *jget(json_t *j, const char *path)
{
        /* "layers.1.mediaType" style */
        char buf[128];
        snprintf(buf, sizeof buf, "%s", path);
        json_t *cur = j;
        for (char *save = NULL, *t = strtok_r(buf, ".", &save); t && cur; t = strtok_r(NULL, ".", &save))
                cur = json_is_array(cur) ? json_array_get(cur, (size_t)atoi(t)) : json_object_get(cur, t);
        return json_string_value(cur);
}

static void test_docker_to_oci(void)
{
        char *out = NULL;
        size_t n = 0;
        struct err e = { 0 };
        is_int(manifest_convert(docker, strlen(docker), true, &out, &n, &e), 0, "docker -> oci");
        json_t *j = out ? json_loadb(out, n, 0, NULL) : NULL;
        is_str(jget(j, "mediaType"), MT_OCI_MANIFEST, "  manifest media type");
        is_str(jget(j, "config.mediaType"), "application/vnd.oci.image.config.v1+json", "  config media type");
        is_str(jget(j, "config.digest"), DA, "  config digest kept");
        is_str(jget(j, "layers.0.mediaType"), "application/vnd.oci.image.layer.v1.tar+gzip", "  gzip layer");
        is_str(jget(j, "layers.1.mediaType"), "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
               "  foreign -> nondistributable");
        is_str(jget(j, "layers.1.urls.0"), "https://example.com/x", "  its urls kept");
        is_str(jget(j, "layers.1.digest"), DC, "  layer digest kept");
        struct manifest *m = NULL;
        is_int(manifest_parse(out, n, NULL, &m, &e), 0, "  the result parses");
        manifest_free(m);
        json_decref(j);
        free(out);
}

static void test_oci_to_docker(void)
{
        char *out = NULL;
        size_t n = 0;
        struct err e = { 0 };
        is_int(manifest_convert(oci, strlen(oci), false, &out, &n, &e), 0, "oci -> docker");
        json_t *j = out ? json_loadb(out, n, 0, NULL) : NULL;
        is_str(jget(j, "mediaType"), MT_DOCKER_MANIFEST, "  manifest media type");
        is_str(jget(j, "config.mediaType"), "application/vnd.docker.container.image.v1+json", "  config media type");
        is_str(jget(j, "layers.0.mediaType"), "application/vnd.docker.image.rootfs.diff.tar.gzip", "  gzip layer");
        is_str(jget(j, "layers.1.mediaType"), "application/vnd.docker.image.rootfs.diff.tar", "  tar layer");
        ok(j && !json_object_get(j, "annotations"), "  manifest annotations dropped");
        ok(j && !json_object_get(json_array_get(json_object_get(j, "layers"), 0), "annotations"),
           "  layer annotations dropped");
        json_decref(j);
        free(out);
}

static void test_same_and_refused(void)
{
        char *out = NULL;
        size_t n = 0;
        struct err e = { 0 };
        is_int(manifest_convert(oci, strlen(oci), true, &out, &n, &e), 0, "oci -> oci");
        ok(out && n == strlen(oci) && !memcmp(out, oci, n), "  the same bytes (the digest stays)");
        free(out);
        char zstd[1024];
        snprintf(zstd, sizeof zstd,
                 "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
                 "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"size\":7,\"digest\":\"" DA "\"},"
                 "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+zstd\",\"size\":1,\"digest\":\"" DB "\"}]}");
        is_int(manifest_convert(zstd, strlen(zstd), false, &out, &n, &e), -ENOTSUP, "a zstd layer has no Docker type");
        ok(strstr(e.msg, "zstd") != NULL, "  the message says zstd: %s", e.msg);
        ok(out == NULL, "  nothing returned");
        char art[1024];
        snprintf(art, sizeof art,
                 "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
                 "\"config\":{\"mediaType\":\"application/vnd.example.thing\",\"size\":7,\"digest\":\"" DA "\"},"
                 "\"layers\":[]}");
        is_int(manifest_convert(art, strlen(art), false, &out, &n, &e), -ENOTSUP, "an artifact is not converted");
}

static void test_chunk_size(void)
{
        is_int((long long)upload_chunk_size(0, 0), (long long)FETCH_PUSH_CHUNK_DEFAULT, "default chunk");
        is_int((long long)upload_chunk_size(1000, 0), 1000, "chunk as asked");
        is_int((long long)upload_chunk_size(1000, 5000), 5000, "raised to OCI-Chunk-Min-Length");
}

int main(void)
{
        test_docker_to_oci();
        test_oci_to_docker();
        test_same_and_refused();
        test_chunk_size();
        return tap_done();
}
