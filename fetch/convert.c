/* Manifest format conversion for `strata push --format` (fetch.h
 * manifest_convert()): the same blobs described as OCI or as Docker schema 2.
 * Only media types change (and the fields Docker has no place for), so the
 * config and the layers keep their digests and a pull of the result checks
 * the same diff_ids. */
#include "fetch-internal.h"

#include <jansson.h>
#include <string.h>

#define MT_OCI_CONFIG    "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"

/* Layer media types, one row per kind: the Docker name, the OCI name. */
static const struct { const char *docker, *oci; } layer_types[] = {
        { "application/vnd.docker.image.rootfs.diff.tar.gzip", "application/vnd.oci.image.layer.v1.tar+gzip" },
        { "application/vnd.docker.image.rootfs.diff.tar", "application/vnd.oci.image.layer.v1.tar" },
        { "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
          "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" },
        { "application/vnd.docker.image.rootfs.foreign.diff.tar",
          "application/vnd.oci.image.layer.nondistributable.v1.tar" },
};

/* The media type @mt in the target format; NULL when it has none there. */
static const char *layer_type(const char *mt, bool to_oci)
{
        for (size_t i = 0; i < ARRAY_SIZE(layer_types); i++) {
                if (!strcmp(mt, layer_types[i].docker) || !strcmp(mt, layer_types[i].oci))
                        return to_oci ? layer_types[i].oci : layer_types[i].docker;
        }
        return NULL;
}

/* Drop what Docker schema 2 has no field for. */
static void drop_oci_only(json_t *o)
{
        json_object_del(o, "annotations");
        json_object_del(o, "artifactType");
        json_object_del(o, "data");
}

int manifest_convert(const char *body, size_t len, bool to_oci, char **out, size_t *out_len, struct err *e)
{
        *out = NULL;
        *out_len = 0;
        struct manifest *m = NULL;
        int r = manifest_parse(body, len, NULL, &m, e);
        if (r >= 0 && m->kind != MANIFEST_IMAGE)
                r = err_setx(e, ENOTSUP, "an index is not converted, only an image manifest");
        bool same = r >= 0 && !strcmp(m->media_type, to_oci ? MT_OCI_MANIFEST : MT_DOCKER_MANIFEST);
        manifest_free(m);
        if (r < 0)
                return r;
        if (same) {
                *out = xmalloc(len + 1);
                memcpy(*out, body, len);
                (*out)[len] = '\0';
                *out_len = len;
                return 0;
        }
        json_error_t je;
        json_t *j = json_loadb(body, len, 0, &je);
        if (!j)
                return err_setx(e, EBADMSG, "manifest is not JSON (line %d: %s)", je.line, je.text);
        json_t *cfg = json_object_get(j, "config");
        const char *cmt = json_string_value(json_object_get(cfg, "mediaType"));
        if (!cmt || (strcmp(cmt, MT_OCI_CONFIG) && strcmp(cmt, MT_DOCKER_CONFIG))) {
                r = err_setx(e, ENOTSUP, "config media type \"%.100s\" is not an image config", cmt ? cmt : "");
                goto out;
        }
        json_object_set_new(cfg, "mediaType", json_string(to_oci ? MT_OCI_CONFIG : MT_DOCKER_CONFIG));
        json_t *layers = json_object_get(j, "layers");
        size_t i;
        json_t *l;
        json_array_foreach(layers, i, l) {
                const char *mt = json_string_value(json_object_get(l, "mediaType"));
                const char *to = mt ? layer_type(mt, to_oci) : NULL;
                if (!to) {
                        r = err_setx(e, ENOTSUP, "layer %zu (%.100s) has no %s media type%s", i + 1, mt ? mt : "?",
                                     to_oci ? "OCI" : "Docker",
                                     mt && strstr(mt, "zstd") ? ": Docker's format has no zstd layers" : "");
                        goto out;
                }
                json_object_set_new(l, "mediaType", json_string(to));
                if (!to_oci)
                        drop_oci_only(l);
        }
        if (!to_oci) {
                drop_oci_only(cfg);
                drop_oci_only(j);
                json_object_del(j, "subject");
        }
        json_object_set_new(j, "mediaType", json_string(to_oci ? MT_OCI_MANIFEST : MT_DOCKER_MANIFEST));
        *out = json_dumps(j, JSON_INDENT(3) | JSON_PRESERVE_ORDER);
        if (!*out) {
                r = err_setx(e, ENOMEM, "encode manifest");
                goto out;
        }
        *out_len = strlen(*out);
        r = 0;
out:
        json_decref(j);
        return r;
}

const char *manifest_layer_type(const char *manifest_type, const char *comp)
{
        bool docker = !strcmp(manifest_type, MT_DOCKER_MANIFEST);
        if (!strcmp(comp, "gzip"))
                return docker ? layer_types[0].docker : layer_types[0].oci;
        if (!strcmp(comp, "zstd") && !docker)
                return "application/vnd.oci.image.layer.v1.tar+zstd";
        return NULL;
}

int manifest_replace_layers(const char *body, size_t len, const struct descriptor *layers, size_t n,
                            char **out, size_t *out_len, struct err *e)
{
        *out = NULL;
        *out_len = 0;
        json_error_t je;
        json_t *j = json_loadb(body, len, 0, &je);
        if (!j)
                return err_setx(e, EBADMSG, "manifest is not JSON (line %d: %s)", je.line, je.text);
        json_t *arr = json_object_get(j, "layers");
        int r = 0;
        if (json_array_size(arr) != n)
                r = err_setx(e, EINVAL, "the manifest has %zu layers, not %zu", json_array_size(arr), n);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                json_t *l = json_array_get(arr, i);
                json_object_set_new(l, "mediaType", json_string(layers[i].media_type));
                json_object_set_new(l, "digest", json_string(layers[i].digest));
                json_object_set_new(l, "size", json_integer((json_int_t)layers[i].size));
        }
        if (r >= 0) {
                *out = json_dumps(j, JSON_INDENT(3) | JSON_PRESERVE_ORDER);
                r = *out ? 0 : err_setx(e, ENOMEM, "encode manifest");
                *out_len = *out ? strlen(*out) : 0;
        }
        json_decref(j);
        return r;
}

const char *manifest_layer_comp(const char *media_type)
{
        if (strstr(media_type, "nondistributable") || strstr(media_type, "foreign"))
                return NULL;   /* not ours to rewrite: others serve those bytes */
        if (!strcmp(media_type, "application/vnd.oci.image.layer.v1.tar+zstd"))
                return "zstd";
        for (size_t i = 0; i < 2; i++) {
                if (!strcmp(media_type, layer_types[i].docker) || !strcmp(media_type, layer_types[i].oci))
                        return i == 0 ? "gzip" : "none";
        }
        return NULL;
}
