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

static int n_deleted;
static void on_deleted(const char *what, void *ctx)
{
        (void)what;
        (void)ctx;
        n_deleted++;
}

/* (4): a layer goes only when no image and no live mount uses it */
static void test_delete(struct store *s)
{
        struct err e = { 0 };
        char shared[DIGEST_STR_LEN + 1], own[DIGEST_STR_LEN + 1], blob[DIGEST_STR_LEN + 1];
        sha256_digest("shared", 6, shared);
        sha256_digest("own", 3, own);
        sha256_digest("blob-own", 8, blob);
        is_int(store_put_blob(s, blob, "blob-own", 8, &e), 0, "put a layer blob");
        const char *ids[] = { shared, own };
        for (int i = 0; i < 2; i++) {
                char *tmp = NULL;
                int dfd = -1;
                store_layer_tmpdir(s, ids[i], &tmp, &dfd, &e);
                store_commit_layer(s, ids[i], tmp, NULL, &e);
                free(tmp);
                close(dfd);
        }
        struct store_layer la[2] = { { .digest = blob, .diff_id = own }, { .digest = shared, .diff_id = shared } };
        struct store_layer lb[1] = { { .digest = shared, .diff_id = shared } };
        struct store_image a = { .id = "sha256:aaaa000000000000000000000000000000000000000000000000000000000000",
                                 .manifest = "sha256:aaaa100000000000000000000000000000000000000000000000000000000000",
                                 .n_layers = 2, .layers = la };
        struct store_image b = { .id = "sha256:bbbb000000000000000000000000000000000000000000000000000000000000",
                                 .manifest = "sha256:bbbb100000000000000000000000000000000000000000000000000000000000",
                                 .n_layers = 1, .layers = lb };
        store_add_image(s, &a, "r/a:1", &e);
        store_add_image(s, &b, "r/b:1", &e);
        char *orphan = NULL;
        is_int(store_remove_name(s, "r/a:1", &orphan, &e), 0, "untag");
        is_str(orphan, a.id, "last name gone: image orphaned");
        free(orphan);
        is_int(store_remove_name(s, "r/a:1", &orphan, &e), -ENOENT, "untag twice: no such image");
        n_deleted = 0;
        is_int(store_delete_image(s, a.id, false, on_deleted, NULL, &e), 0, "delete image");
        is_int(n_deleted, 2, "image and its own layer reported deleted");
        ok(!store_has_layer(s, own), "own layer removed (4)");
        ok(store_has_layer(s, shared), "shared layer kept for the other image (4)");
        ok(!store_has_blob(s, blob), "own layer blob removed");

        /* a live mount keeps the image unless forced */
        struct store_mount m = { 0 };
        char mp[300];
        snprintf(mp, sizeof mp, "%s/mnt", root);
        mkdir(mp, 0755);
        is_int(store_mount_create(s, b.id, mp, NULL, "web", &m, &e), 0, "record a mount");
        ok(access(m.upper, F_OK) == 0, "fresh upper dir created");
        struct store_mount twin = { 0 };
        is_int(store_mount_create(s, b.id, mp, NULL, "web", &twin, &e), -EEXIST, "a second record named web refused");
        ok(strstr(e.msg, "\"web\" is already in use") != NULL, "the message names the name");
        struct store_mount again = { 0 };
        is_int(store_load_mount(s, m.id, &again, &e), 0, "the record read again");
        is_str(again.name, "web", "its name kept");
        ok(!store_run_alive(&again), "no command recorded: not a running run");
        again.run_pid = (int)getpid();
        again.run_start = store_proc_start(again.run_pid);
        ok(again.run_start > 0 && store_run_alive(&again), "a pid with its start time: alive");
        again.run_start++;
        ok(!store_run_alive(&again), "the pid with another start time (reused): not the run");
        store_mount_free(&again);
        struct store_mount found = { 0 };
        is_int(store_find_mount(s, mp, &found, &e), 0, "find the mount by mountpoint");
        is_str(found.id, m.id, "same mount record");
        ok(store_mount_live(&found), "live while being set up: no daemon yet, its creator runs");
        found.creator = 0;
        ok(!store_mount_live(&found), "not live without a daemon or a creator");
        store_mount_free(&found);
        is_int(store_mount_remove(s, &m, &e), 0, "remove the mount record");
        ok(access(m.dir, F_OK) != 0, "mount dir gone");
        store_mount_free(&m);
        is_int(store_delete_image(s, b.id, false, NULL, NULL, &e), 0, "delete the last image");
        ok(!store_has_layer(s, shared), "shared layer removed with its last user (4)");
}

/* (4): a layer whose blob lock a pull holds is left to that pull */
static void test_delete_skips_locked(struct store *s)
{
        struct err e = { 0 };
        char id[DIGEST_STR_LEN + 1], blob[DIGEST_STR_LEN + 1];
        sha256_digest("locked-layer", 12, id);
        sha256_digest("locked-blob", 11, blob);
        char *tmp = NULL;
        int dfd = -1;
        store_layer_tmpdir(s, id, &tmp, &dfd, &e);
        store_commit_layer(s, id, tmp, NULL, &e);
        free(tmp);
        close(dfd);
        struct store_layer l = { .digest = blob, .diff_id = id };
        struct store_image im = { .id = "sha256:cccc000000000000000000000000000000000000000000000000000000000000",
                                  .manifest = "sha256:cccc100000000000000000000000000000000000000000000000000000000000",
                                  .n_layers = 1, .layers = &l };
        store_add_image(s, &im, "r/c:1", &e);
        int lk = -1;
        store_blob_lock(s, blob, &lk, &e);
        is_int(store_delete_image(s, im.id, false, NULL, NULL, &e), 0, "delete while a pull holds the blob lock");
        ok(store_has_layer(s, id), "the locked layer is left to the pull (4)");
        store_blob_unlock(lk);
}

/* (5): work dirs of dead processes go at the next open; .partial files stay */
static void test_stale_tmp(void)
{
        struct err e = { 0 };
        char p[512];
        snprintf(p, sizeof p, "%s/tmp/layer-%064d-999999-0", root, 0);
        mkdir(p, 0700);
        snprintf(p, sizeof p, "%s/tmp/gone-mount-abc-999999-0", root);
        mkdir(p, 0700);
        snprintf(p, sizeof p, "%s/tmp/layer-%064d-%d-0", root, 1, (int)getpid());
        mkdir(p, 0700);
        snprintf(p, sizeof p, "%s/tmp/%064d.partial", root, 2);
        close(open(p, O_CREAT | O_WRONLY, 0600));
        struct store *s = NULL;
        is_int(store_open(root, &s, &e), 0, "reopen the store");
        store_close(s);
        snprintf(p, sizeof p, "%s/tmp/layer-%064d-999999-0", root, 0);
        ok(access(p, F_OK) != 0, "a dead process's extraction dir is removed (5)");
        snprintf(p, sizeof p, "%s/tmp/gone-mount-abc-999999-0", root);
        ok(access(p, F_OK) != 0, "a dead process's half-removed tree is removed (5)");
        snprintf(p, sizeof p, "%s/tmp/layer-%064d-%d-0", root, 1, (int)getpid());
        ok(access(p, F_OK) == 0, "a live process's extraction dir stays");
        snprintf(p, sizeof p, "%s/tmp/%064d.partial", root, 2);
        ok(access(p, F_OK) == 0, "a partial download stays, to be resumed (5)");
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
        test_delete(s);
        test_delete_skips_locked(s);
        store_close(s);
        test_stale_tmp();
        rm_rf_at(AT_FDCWD, root, &e);
        return tap_done();
}
