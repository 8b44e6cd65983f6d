/* strata inspect IMAGE... — the image config and manifest as JSON
 * (docker inspect's shape, plus the manifest and the layers). */
#include "cli.h"
#include "fetch/fetch.h"
#include "format.h"
#include "template.h"
#include "store/store.h"

#include <getopt.h>
#include <jansson.h>
#include <string.h>

#define CONFIG_MAX (4u << 20)

/* image_config_json() - the image's config blob, parsed.  Shared with history. */
int image_config_json(struct store *s, const struct store_image *im, json_t **out, struct err *e)
{
        _cleanup_free_ char *path = store_blob_path(s, im->id);
        json_t *j = NULL;
        int r = json_read_file(path, CONFIG_MAX, &j, e);
        if (r < 0)
                return err_wrap(e, "config %s", im->id);
        if (!json_is_object(j)) {
                json_decref(j);
                return err_setx(e, EBADMSG, "config %s: not a JSON object", im->id);
        }
        *out = j;
        return 0;
}

static json_t *inspect_one(struct store *s, const struct store_image *im, struct err *e)
{
        json_t *cfg = NULL;
        if (image_config_json(s, im, &cfg, e) < 0)
                return NULL;
        json_t *tags = json_array(), *digests = json_array();
        for (size_t i = 0; i < im->n_names; i++) {
                char *repo, *tag, *digest;
                split_store_name(im->names[i], &repo, &tag, &digest);
                if (digest)
                        json_array_append_new(digests, json_sprintf("%s@%s", repo, digest));
                else
                        json_array_append_new(tags, json_sprintf("%s:%s", repo, tag));
                free(repo), free(tag), free(digest);
        }
        json_t *layers = json_array();
        for (size_t i = 0; i < im->n_layers; i++)
                json_array_append_new(layers, json_pack("{s:s, s:s, s:s?, s:I}", "Digest", im->layers[i].digest,
                                                        "DiffID", im->layers[i].diff_id, "MediaType",
                                                        im->layers[i].media_type, "Size",
                                                        (json_int_t)im->layers[i].size));
        char pulled[64];
        time_rfc3339(im->pulled, pulled, sizeof pulled);
        json_t *o = json_pack("{s:s, s:o, s:o, s:s, s:s, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:I, s:O?, s:{s:s}}",
                              "Id", im->id, "RepoTags", tags, "RepoDigests", digests, "Parent", "",
                              "Comment", json_string_value(json_object_get(cfg, "comment")) ?: "",
                              "Created", json_object_get(cfg, "created"), "Author", json_object_get(cfg, "author"),
                              "Config", json_object_get(cfg, "config"), "Architecture",
                              json_object_get(cfg, "architecture"), "Variant", json_object_get(cfg, "variant"),
                              "Os", json_object_get(cfg, "os"), "Size", (json_int_t)im->size, "History", json_object_get(cfg, "history"),
                              "Metadata", "LastTagTime", pulled);
        json_object_set_new(o, "Manifest", json_pack("{s:s, s:s?, s:s?, s:o}", "Digest", im->manifest, "Index",
                                                     im->index, "Platform", im->platform, "Layers", layers));
        /* docker's shape: {"Type": "layers", "Layers": [diff ids]} */
        json_t *rootfs = json_object_get(cfg, "rootfs");
        json_object_set_new(o, "RootFS", json_pack("{s:s, s:O?}", "Type", "layers", "Layers",
                                                   json_object_get(rootfs, "diff_ids")));
        json_decref(cfg);
        return o;
}

int cmd_inspect(int argc, char **argv)
{
        const char *format;
        int st = format_option("inspect", argc, argv, &format);
        if (st)
                return st;
        if (argc - optind < 1)
                return usage_error("inspect", "requires at least 1 argument");
        struct err e = { 0 };
        struct fmt_out out = { 0 };
        /* docker inspect's template runs over the JSON as a map: a missing key is "<no value>" */
        if (format && fmt_open(&out, format, "{{json .}}", NULL, false, stdout, &e) < 0) {
                err_wrap(&e, "inspect");
                return report_err(&e);
        }
        struct store *s = NULL;
        if (open_store(&s, &e) < 0) {
                fmt_close(&out, 0, &e);
                return report_err(&e);
        }
        json_t *all = json_array();
        int status = 0;
        for (int i = optind; i < argc; i++) {
                struct store_image im = { 0 };
                err_clear(&e);
                json_t *o = NULL;
                if (lookup_image(s, argv[i], &im, NULL, &e) == 0)
                        o = inspect_one(s, &im, &e);
                store_image_free(&im);
                if (o && format && fmt_item(&out, json_incref(o), &e) < 0) {
                        json_decref(o);
                        o = NULL;
                }
                if (!o) {
                        err_wrap(&e, "inspect %s", argv[i]);
                        status = report_err(&e);
                        continue;
                }
                json_array_append_new(all, o);
        }
        store_close(s);
        if (format) {
                fmt_close(&out, 0, &e);
        } else {
                char *text = json_dumps(all, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
                printf("%s\n", text);
                free(text);
        }
        json_decref(all);
        return status;
}
