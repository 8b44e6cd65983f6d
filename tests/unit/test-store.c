/* Unit tests for store/: blobs, layers, image records (STORE INVARIANTS in store.h). */
#include "store/store.h"
#include "tests/unit/tap.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char root[256];

static void test_blobs(struct store *s)
{
        struct err e = { 0 };
        char d[DIGEST_STR_LEN + 1];
        sha256_digest("hello", 5, d);
        ok(!store_has_blob(s, d), "blob absent at first");
        is_int(store_put_blob(s, d, "hello", 5, &e), 0, "put blob with right digest");
        ok(store_has_blob(s, d), "blob present after put");
        struct buf b = BUF_INIT(0);
        is_int(store_read_blob(s, d, 100, &b, &e), 0, "read blob");
        is_str(b.data, "hello", "blob content");
        is_int(store_read_blob(s, d, 3, &b, &e), -EFBIG, "read blob past ceiling fails (1)");
        buf_free(&b);

        /* (1): a blob whose bytes do not hash to its name is refused */
        char d2[DIGEST_STR_LEN + 1];
        sha256_digest("other", 5, d2);
        is_int(store_put_blob(s, d2, "hello", 5, &e), -EBADMSG, "put blob with wrong digest refused (1)");
        ok(!store_has_blob(s, d2), "nothing stored after a mismatch (1)");
        ok(strstr(e.msg, d2) != NULL, "error names the digest");
        is_int(store_put_blob(s, "sha256:xyz", "a", 1, &e), -EINVAL, "malformed digest refused");
}

static void test_partial(struct store *s)
{
        struct err e = { 0 };
        char d[DIGEST_STR_LEN + 1];
        sha256_digest("abcdef", 6, d);
        int lk = -1, fd = -1;
        uint64_t have = 99;
        is_int(store_blob_lock(s, d, &lk, &e), 0, "take blob lock");
        is_int(store_open_partial(s, d, &fd, &have, &e), 0, "open partial");
        is_int((long long)have, 0, "fresh partial is empty");
        write(fd, "abc", 3);
        close(fd);
        /* (5): a rerun resumes from what is there */
        is_int(store_open_partial(s, d, &fd, &have, &e), 0, "reopen partial");
        is_int((long long)have, 3, "partial keeps its bytes for resuming (5)");
        ok(!store_has_blob(s, d), "partial is not a blob (5)");
        write(fd, "def", 3);
        is_int(store_commit_partial(s, d, fd, &e), 0, "commit partial");
        ok(store_has_blob(s, d), "blob present after commit");
        store_blob_unlock(lk);
}

static void test_layers(struct store *s)
{
        struct err e = { 0 };
        char id[DIGEST_STR_LEN + 1];
        sha256_digest("layer", 5, id);
        char *tmp = NULL;
        int dfd = -1;
        is_int(store_layer_tmpdir(s, id, &tmp, &dfd, &e), 0, "make layer tmpdir");
        int f = openat(dfd, "file", O_CREAT | O_WRONLY, 0644);
        ok(f >= 0, "create a file in the tmp layer");
        close(f);
        ok(!store_has_layer(s, id), "layer not visible before commit (2)");
        is_int(store_commit_layer(s, id, tmp, "{\"files\":1}", &e), 0, "commit layer");
        ok(store_has_layer(s, id), "layer visible after commit (2)");
        char *lp = store_layer_path(s, id);
        char *fp = NULL;
        asprintf(&fp, "%s/file", lp);
        ok(access(fp, F_OK) == 0, "layer content in layers/<hex>/diff");
        free(fp);
        free(lp);
        free(tmp);
        close(dfd);

        /* a second commit of the same layer (another process won) is fine */
        is_int(store_layer_tmpdir(s, id, &tmp, &dfd, &e), 0, "make second tmpdir");
        is_int(store_commit_layer(s, id, tmp, NULL, &e), 0, "second commit of the same layer succeeds");
        ok(access(tmp, F_OK) != 0, "losing tmpdir removed");
        free(tmp);
        close(dfd);
}

static void test_images(struct store *s)
{
        struct err e = { 0 };
        struct store_layer l = { .digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111",
                                 .diff_id = "sha256:2222222222222222222222222222222222222222222222222222222222222222",
                                 .media_type = "application/vnd.oci.image.layer.v1.tar+gzip",
                                 .size = 42 };
        struct store_image im = { .id = "sha256:abcdef0000000000000000000000000000000000000000000000000000000000",
                                  .manifest = "sha256:3333333333333333333333333333333333333333333333333333333333333333",
                                  .platform = "linux/amd64", .pulled = 100, .n_layers = 1, .layers = &l };
        is_int(store_add_image(s, &im, "docker.io/library/busybox:latest", &e), 0, "add image");
        is_int(store_add_image(s, &im, "docker.io/library/busybox:other", &e), 0, "second name, same image");
        struct store_image got = { 0 };
        is_int(store_find_image(s, "docker.io/library/busybox:latest", &got, &e), 0, "find by name");
        is_str(got.id, im.id, "found image id");
        is_int((long long)got.n_names, 2, "two names point at it");
        is_int((long long)got.n_layers, 1, "one layer");
        is_str(got.layers[0].diff_id, l.diff_id, "layer diff_id kept");
        store_image_free(&got);
        is_int(store_find_image(s, "abcdef", &got, &e), 0, "find by ID prefix");
        store_image_free(&got);
        is_int(store_find_image(s, "sha256:abcd", &got, &e), 0, "find by sha256: ID prefix");
        store_image_free(&got);
        is_int(store_find_image(s, "docker.io/library/nope:latest", &got, &e), -ENOENT, "unknown name");

        struct store_image im2 = im;
        im2.id = "sha256:abcfff0000000000000000000000000000000000000000000000000000000000";
        im2.pulled = 200;
        is_int(store_add_image(s, &im2, "docker.io/library/busybox:other", &e), 0, "retag moves a name");
        is_int(store_find_image(s, "abc", &got, &e), -EINVAL, "ambiguous ID prefix refused");
        struct store_image *all = NULL;
        size_t n = 0;
        is_int(store_list_images(s, &all, &n, &e), 0, "list images");
        is_int((long long)n, 2, "two images listed");
        if (n == 2) {
                is_str(all[0].id, im2.id, "newest pull first");
                is_int((long long)all[1].n_names, 1, "moved name left the first image");
        }
        for (size_t i = 0; i < n; i++)
                store_image_free(&all[i]);
        free(all);
}

int main(void)
{
        snprintf(root, sizeof root, "/tmp/strata-test-store-%d", (int)getpid());
        struct err e = { 0 };
        struct store *s = NULL;
        int r = store_open(root, &s, &e);
        is_int(r, 0, "open a new store");
        if (r < 0)
                return tap_done();
        test_blobs(s);
        test_partial(s);
        test_layers(s);
        test_images(s);
        store_close(s);
        rm_rf_at(AT_FDCWD, root, &e);
        return tap_done();
}
