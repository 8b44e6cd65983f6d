"""strata search (issue 6): Docker Hub's v1 search API from a small loopback
server answering in Docker Hub's JSON shape (config "search-index"), and a
real registry's /v2/_catalog with Link pagination."""
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from helpers import File

HUB_RESULTS = [
    {"name": "ubuntu", "description": "Ubuntu is a Debian-based Linux operating system based on free software.",
     "star_count": 17000, "is_official": True, "is_automated": False},
    {"name": "ubuntu/nginx", "description": "Nginx, a high-performance reverse proxy & web server.",
     "star_count": 120, "is_official": False, "is_automated": False},
    {"name": "joe/ubuntu-dev", "description": "dev box\nwith tools",
     "star_count": 3, "is_official": False, "is_automated": True},
    {"name": "websphere-liberty", "description": "", "star_count": 0, "is_official": False,
     "is_automated": False},
]


class SearchServer:
    """Answers GET /v1/search?q=TERM&n=N like index.docker.io."""

    def __init__(self):
        self.queries = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                u = urllib.parse.urlparse(self.path)
                q = urllib.parse.parse_qs(u.query)
                outer.queries.append((u.path, q))
                if u.path != "/v1/search":
                    self.send_response(404)
                    self.end_headers()
                    return
                term = q.get("q", [""])[0]
                n = int(q.get("n", ["25"])[0])
                res = [r for r in HUB_RESULTS if term in r["name"]][:n]
                body = json.dumps({"num_pages": 1, "num_results": len(res), "page_size": n,
                                   "query": term, "results": res}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def hub(tmp_path, strata_env):
    s = SearchServer()
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"search-index": s.url}))
    strata_env["STRATA_CONFIG"] = str(cfg)
    strata_env["STRATA_DOCKER_DAEMON_JSON"] = ""
    yield s
    s.stop()


def test_search_hub_table(strata, hub):
    r = strata("search", "ubuntu")
    assert r.ok, str(r)
    lines = r.out.splitlines()
    assert lines[0].split() == ["NAME", "DESCRIPTION", "STARS", "OFFICIAL", "AUTOMATED"]
    assert len(lines) == 4
    row = lines[1]
    assert row.startswith("ubuntu ")
    # docker truncates descriptions to 45 characters, the last one "…"
    assert "Ubuntu is a Debian-based Linux operating sys…" in row
    assert row.rstrip().endswith("[OK]") and "17000" in row
    assert "dev box with tools" in lines[3] and lines[3].rstrip().endswith("[OK]")
    # columns line up like docker's tabwriter
    col = lines[0].index("DESCRIPTION")
    assert all(l[col - 3:col] == "   " for l in lines)
    assert hub.queries[-1] == ("/v1/search", {"q": ["ubuntu"], "n": ["25"]})


def test_search_no_trunc_limit_filters(strata, hub):
    r = strata("search", "--no-trunc", "ubuntu")
    assert HUB_RESULTS[0]["description"] in r.out
    r = strata("search", "--limit", "2", "ubuntu")
    assert len(r.lines) == 3 and hub.queries[-1][1]["n"] == ["2"]
    r = strata("search", "--filter", "stars=100", "ubuntu")
    assert [l.split()[0] for l in r.lines[1:]] == ["ubuntu", "ubuntu/nginx"]
    r = strata("search", "--filter", "is-official=true", "ubuntu")
    assert [l.split()[0] for l in r.lines[1:]] == ["ubuntu"]
    r = strata("search", "-f", "is-automated=true", "ubuntu")
    assert [l.split()[0] for l in r.lines[1:]] == ["joe/ubuntu-dev"]


def test_search_json(strata, hub):
    """docker's search context: every field a string, the description cut
    to 45 characters unless --no-trunc, [OK] for true."""
    r = strata("search", "--format", "json", "ubuntu")
    assert r.ok
    objs = [json.loads(l) for l in r.lines]
    assert objs[0] == {"Name": "ubuntu", "Description": "Ubuntu is a Debian-based Linux operating sys…",
                       "StarCount": "17000", "IsOfficial": "[OK]", "IsAutomated": ""}
    r = strata("search", "--format", "{{json .}}", "--no-trunc", "ubuntu").check()
    assert json.loads(r.lines[0])["Description"] == HUB_RESULTS[0]["description"]


def test_search_format_template(strata, hub):
    r = strata("search", "--format", "{{.Name}}: {{.StarCount}}{{if .IsOfficial}} official{{end}}", "ubuntu").check()
    assert r.lines[:2] == ["ubuntu: 17000 official", "ubuntu/nginx: 120"]
    r = strata("search", "--format", "table {{.Name}}\\t{{.StarCount}}", "--limit", "2", "ubuntu").check()
    assert r.lines == ["NAME           STARS", "ubuntu         17000", "ubuntu/nginx   120"]
    r = strata("search", "--format", "{{.Stars}}", "ubuntu")
    assert r.rc != 0 and len(r.err_lines) == 1 and "Stars" in r.err and "StarCount" in r.err, str(r)


@pytest.mark.parametrize("args,needle", [
    (["--filter", "stars=many", "x"], "stars=many"),
    (["--filter", "colour=blue", "x"], "colour=blue"),
    (["--limit", "0", "x"], "limit"),
    (["--limit", "101", "x"], "limit"),
    ([], "argument"),
])
def test_search_bad_arguments(strata, hub, args, needle):
    r = strata("search", *args)
    assert r.rc != 0 and len(r.err_lines) == 1 and needle in r.err, str(r)


def test_search_index_down(strata, tmp_path, strata_env):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"search-index": "http://127.0.0.1:1"}))
    strata_env["STRATA_CONFIG"] = str(cfg)
    r = strata("search", "ubuntu")
    assert r.rc != 0 and len(r.err_lines) == 1 and r.err.startswith("strata: search ubuntu: "), str(r)


@pytest.fixture(scope="module")
def catalog_registry(tmp_path_factory, image_builder):
    """A real registry whose catalog pages hold 2 entries (Link pagination)."""
    from helpers.registry import Registry
    reg = Registry(tmp_path_factory.mktemp("catreg"), extra_config="catalog:\n  maxentries: 2\n").start()
    base = image_builder.build_image(reg, "apps/base:1", layers=[[File("x", b"x")]])
    for name in ("apps/web", "apps/webhook", "tools/db", "tools/web-proxy", "zzz/other"):
        image_builder.build_image(reg, f"{name}:1", layers=[[File("y", name.encode())]], base=base)
    yield reg
    reg.stop()


def test_search_registry_catalog(strata, catalog_registry, make_proxy, strata_env, tmp_path):
    strata_env["STRATA_DOCKER_DAEMON_JSON"] = ""
    px = make_proxy(catalog_registry)
    r = strata("search", f"{px.host}/web")
    assert r.ok, str(r)
    names = [l.split()[0] for l in r.lines[1:]]
    assert names == [f"{px.host}/apps/web", f"{px.host}/apps/webhook", f"{px.host}/tools/web-proxy"]
    pages = px.find("GET", "/v2/_catalog")
    assert len(pages) >= 3, pages          # followed rel="next" links
    r = strata("search", "--limit", "1", f"{px.host}/web")
    assert [l.split()[0] for l in r.lines[1:]] == [f"{px.host}/apps/web"]


def test_search_registry_catalog_with_login(strata, make_registry, build_image, strata_env, tmp_path):
    strata_env["STRATA_DOCKER_DAEMON_JSON"] = ""
    reg = make_registry(auth="htpasswd", users={"u": "p"})
    build_image(reg, "secret/thing:1", layers=[[File("s", b"s")]])
    r = strata("search", f"{reg.host}/thing")
    assert r.rc != 0 and len(r.err_lines) == 1 and "login" in r.err, str(r)
    strata("login", "-u", "u", "--password-stdin", reg.host, input="p").check()
    r = strata("search", f"{reg.host}/thing")
    assert r.ok and f"{reg.host}/secret/thing" in r.out, str(r)
