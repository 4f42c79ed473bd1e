"""Dataset downloads (dataloader/download.py and the three scripts over it).

Each test builds a tiny archive in the real dataset's layout and points the dataset's mirror variable at
it: a file:// URL for the tests that call the scripts' main() in this process, and a local HTTP server
(127.0.0.1 only) for what needs HTTP (status codes, retries) and for the one end-to-end run of the bash
scripts.
"""

import functools
import http.server
import io
import os
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from dataloader import download

ROOT = Path(__file__).resolve().parents[1]

MNIST_FILES = {
    "MNIST-CDCB/train/00001.png": b"train-1",
    "MNIST-CDCB/train/00002.png": b"train-2",
    "MNIST-CDCB/test/00001.png": b"test-1",
}
CARS_FILES = {
    "data/cars/list.txt": b"car_001_mesh\ncar_002_mesh\n",
    "data/cars/car_001_mesh.mat": b"mat-1",
    "data/cars/car_002_mesh.mat": b"mat-2",
    "data/sprites/sprites_1.mat": b"not wanted",
}
AFHQ_FILES = {
    f"afhq/{split}/{kind}/flickr_{kind}_00000{i}.jpg": f"{split}-{kind}-{i}".encode()
    for split in ("train", "val")
    for kind in ("cat", "dog", "wild")
    for i in (1, 2)
}

# script, arguments before TARGET, URL variable, archive name, files, where they land
DATASETS = {
    "mnist": ("download_mnist_cdcb.sh", [], "IIAE_MNIST_CDCB_URL", "MNIST-CDCB-256Ims.tar.gz",
              MNIST_FILES, lambda name: name.removeprefix("MNIST-CDCB/")),
    "cars": ("download_cars.sh", [], "IIAE_CARS_URL", "nips2015-analogy-data.tar.gz",
             CARS_FILES, lambda name: name.removeprefix("data/cars/")
             if name.startswith("data/cars/") else None),
    "afhq": ("download.sh", ["afhq-dataset"], "IIAE_AFHQ_URL", "afhq.zip", AFHQ_FILES,
             lambda name: name),
}
URL_VARIABLES = ("IIAE_MNIST_CDCB_URL", "IIAE_CARS_URL", "IIAE_AFHQ_URL")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """(folder served, base URL) of an HTTP server on 127.0.0.1 with a free port."""
    root = tmp_path / "srv"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(autouse=True)
def no_mirrors_or_proxies(monkeypatch):
    """The tests' own URLs only, fetched directly, and retries without waiting."""
    for key in (*URL_VARIABLES, "http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(download.time, "sleep", lambda seconds: None)


def make_tar(path, files, links=(), compression="gz"):
    """files: {name: bytes}; links: [(name, target)] symbolic links."""
    with tarfile.open(path, f"w:{compression}") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in links:
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)


def make_zip(path, files, links=()):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(zipfile.ZipInfo(name), data)
        for name, target in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, target)


def make_archive(path, files, links=()):
    if path.name.endswith(".zip"):
        make_zip(path, files, links)
    else:
        make_tar(path, files, links)


def serve_file(tmp_path, monkeypatch, variable, archive, files, links=()):
    """Write the archive and point `variable` at it as a file:// URL."""
    path = tmp_path / "srv" / archive
    path.parent.mkdir(exist_ok=True)
    make_archive(path, files, links)
    monkeypatch.setenv(variable, path.as_uri())
    return path


def run_script(script, args, capsys):
    """The script's main() in this process: (exit status, stdout, stderr lines that are not blank)."""
    status = download.main([script, *args])
    out, err = capsys.readouterr()
    return status, out, [line for line in err.splitlines() if line.strip()]


def all_files(folder):
    """Every path under folder (files, folders, links), relative, as strings."""
    folder = Path(folder)
    if not folder.exists():
        return set()
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def expected_layout(dataset, target):
    _, _, _, _, files, dest = DATASETS[dataset]
    return {Path(target) / dest(name): data for name, data in files.items() if dest(name) is not None}


def assert_landed(dataset, target):
    """Exactly the dataset's files: no archive, no temporary folder, none of the archive's other data sets."""
    expected = expected_layout(dataset, target)
    for path, data in expected.items():
        assert path.read_bytes() == data, path
    assert {p for p in Path(target).rglob("*") if p.is_file()} == set(expected)
    assert [p.name for p in Path(target).iterdir() if p.name.startswith(".")] == []


def test_bash_scripts_download_over_http(server, tmp_path):
    """End to end, for each of the three scripts: bash, python3 -m dataloader.download, urllib over a
    loopback HTTP server."""
    srv, base = server
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    # The scripts call python3: find this interpreter first.
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    for dataset, (script, pre, var, archive, files, _) in sorted(DATASETS.items()):
        make_archive(srv / archive, files)
        target = tmp_path / dataset / "out" / "target"
        proc = subprocess.run(["bash", str(ROOT / script), *pre, str(target)], cwd=tmp_path,
                              env={**env, var: f"{base}/{archive}"}, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ""
        assert f"is ready in {target}" in proc.stdout
        assert_landed(dataset, target)


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_download_lands_in_expected_layout(dataset, tmp_path, monkeypatch, capsys):
    script, pre, var, archive, files, _ = DATASETS[dataset]
    serve_file(tmp_path, monkeypatch, var, archive, files)
    target = tmp_path / "out" / "target"
    status, out, err = run_script(script, [*pre, str(target)], capsys)
    assert status == 0 and err == []
    assert f"is ready in {target}" in out
    assert_landed(dataset, target)


def test_afhq_default_layout_is_data_afhq(tmp_path, monkeypatch, capsys):
    serve_file(tmp_path, monkeypatch, "IIAE_AFHQ_URL", "afhq.zip", AFHQ_FILES)
    monkeypatch.chdir(tmp_path)
    status, _, err = run_script("download.sh", ["afhq-dataset"], capsys)
    assert status == 0, err
    assert (tmp_path / "data/afhq/train/cat/flickr_cat_000001.jpg").read_bytes() == b"train-cat-1"
    assert (tmp_path / "data/afhq/val/wild/flickr_wild_000002.jpg").is_file()


def test_mnist_archive_without_top_folder(tmp_path, monkeypatch, capsys):
    """The payload is found whether or not the archive wraps it in a folder."""
    serve_file(tmp_path, monkeypatch, "IIAE_MNIST_CDCB_URL", "m.tar.gz",
               {k.removeprefix("MNIST-CDCB/"): v for k, v in MNIST_FILES.items()})
    target = tmp_path / "MNIST-CDCB"
    target.mkdir()  # an existing empty target is fine
    status, _, err = run_script("download_mnist_cdcb.sh", [str(target)], capsys)
    assert status == 0, err
    assert (target / "train/00002.png").read_bytes() == b"train-2"
    assert (target / "test/00001.png").read_bytes() == b"test-1"


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_second_run_is_idempotent(dataset, tmp_path, monkeypatch, capsys):
    script, pre, var, archive, files, _ = DATASETS[dataset]
    path = serve_file(tmp_path, monkeypatch, var, archive, files)
    target = tmp_path / "target"
    status, _, err = run_script(script, [*pre, str(target)], capsys)
    assert status == 0, err
    before = {p: p.stat().st_mtime_ns for p in target.rglob("*")}

    path.unlink()  # a second download attempt would fail
    status, out, err = run_script(script, [*pre, str(target)], capsys)

    assert status == 0, err
    assert "already in place" in out
    assert {p: p.stat().st_mtime_ns for p in target.rglob("*")} == before


EVIL_MEMBERS = ["../evil", "../../evil", "../../../evil", "../../../../evil", "a/../../../evil"]


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_dotdot_member_refuses_whole_archive(dataset, tmp_path, monkeypatch, capsys):
    script, pre, var, archive, files, _ = DATASETS[dataset]
    # Good members first, so a check done while extracting would already have written them.
    serve_file(tmp_path, monkeypatch, var, archive, {**files, **{name: b"evil" for name in EVIL_MEMBERS}})
    work = tmp_path / "work"
    target = work / "target"

    status, _, lines = run_script(script, [*pre, str(target)], capsys)

    assert status != 0
    assert len(lines) == 1 and "unsafe member" in lines[0] and "../" in lines[0], lines
    assert not any(p.name == "evil" for p in tmp_path.rglob("*"))
    assert all_files(work) == set()  # no partial dataset, no archive, no temp folder


@pytest.mark.parametrize("archive", ["x.tar.gz", "x.zip"])
def test_absolute_member_is_refused(archive, tmp_path, monkeypatch, capsys):
    victim = tmp_path / "abs_victim.png"
    serve_file(tmp_path, monkeypatch, "IIAE_MNIST_CDCB_URL", archive, {**MNIST_FILES, str(victim): b"evil"})
    target = tmp_path / "target"
    status, _, lines = run_script("download_mnist_cdcb.sh", [str(target)], capsys)
    assert status != 0
    assert len(lines) == 1 and "unsafe member" in lines[0]
    assert not victim.exists()
    assert not target.exists()


@pytest.mark.parametrize("archive", ["x.tar.gz", "x.zip"])
@pytest.mark.parametrize("links", [
    [("MNIST-CDCB/out", "../../../outside")],
    [("MNIST-CDCB/abs", "/etc")],
    # Each link stays inside on paper, but the second walks through the first.
    [("MNIST-CDCB/here", "."), ("MNIST-CDCB/up", "here/../..")],
    # A member written through a link.
    [("MNIST-CDCB/dir", "train")],
], ids=["relative-escape", "absolute", "link-through-link", "member-under-link"])
def test_link_leading_out_is_refused(archive, links, tmp_path, monkeypatch, capsys):
    files = dict(MNIST_FILES)
    if links[0][0] == "MNIST-CDCB/dir":
        files["MNIST-CDCB/dir/x.png"] = b"through a link"
    serve_file(tmp_path, monkeypatch, "IIAE_MNIST_CDCB_URL", archive, files, links)
    target = tmp_path / "target"
    status, _, lines = run_script("download_mnist_cdcb.sh", [str(target)], capsys)
    assert status != 0
    assert len(lines) == 1 and "refusing archive" in lines[0], lines
    assert not target.exists()


def test_link_inside_archive_is_accepted(tmp_path, monkeypatch, capsys):
    serve_file(tmp_path, monkeypatch, "IIAE_MNIST_CDCB_URL", "x.tar.gz", MNIST_FILES,
               [("MNIST-CDCB/test/00009.png", "../train/00001.png")])
    target = tmp_path / "target"
    status, _, err = run_script("download_mnist_cdcb.sh", [str(target)], capsys)
    assert status == 0, err
    assert (target / "test/00009.png").read_bytes() == b"train-1"


def test_404_leaves_nothing_and_fails(server, tmp_path, monkeypatch, capsys):
    _, base = server
    monkeypatch.setenv("IIAE_AFHQ_URL", f"{base}/missing.zip")
    target = tmp_path / "data"
    status, _, lines = run_script("download.sh", ["afhq-dataset", str(target)], capsys)
    assert status != 0
    [line] = lines
    assert line.startswith("download.sh: error: download of AFHQ failed") and "404" in line
    assert not target.exists()
    assert not list(tmp_path.rglob("*.part"))


def test_404_in_existing_target_leaves_it_as_it_was(server, tmp_path, monkeypatch, capsys):
    _, base = server
    monkeypatch.setenv("IIAE_CARS_URL", f"{base}/nope.tar.gz")
    target = tmp_path / "cars"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    status, _, _ = run_script("download_cars.sh", [str(target)], capsys)
    assert status != 0
    assert all_files(target) == {"notes.txt"}


class _Flaky(http.server.BaseHTTPRequestHandler):
    """Answers 503 once, then sends a body shorter than its Content-Length, then the whole body."""
    body = b"0123456789" * 100
    requests = []

    def do_GET(self):
        self.requests.append(self.path)
        if len(self.requests) == 1:
            self.send_error(503)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body if len(self.requests) > 2 else self.body[:100])

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky_server():
    _Flaky.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/file"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_fetch_retries_a_server_error_and_a_cut_transfer(flaky_server, tmp_path):
    dest = tmp_path / "file"
    download.fetch(flaky_server, str(dest))
    assert dest.read_bytes() == _Flaky.body and len(_Flaky.requests) == 3
    assert os.listdir(tmp_path) == ["file"]


def test_fetch_refuses_a_transfer_cut_short_every_time(flaky_server, tmp_path):
    with pytest.raises(download.DownloadError, match="connection closed after 100 of 1000 bytes"):
        download.fetch(flaky_server, str(tmp_path / "file"), attempts=2)
    assert os.listdir(tmp_path) == []  # the .part file is gone, and nothing was renamed


def test_interrupted_download_leaves_nothing(tmp_path, monkeypatch, capsys):
    def interrupted(url, dest):
        with open(dest + ".part", "wb") as f:
            f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(download, "fetch", interrupted)
    target = tmp_path / "new" / "target"
    status, _, lines = run_script("download_mnist_cdcb.sh", [str(target)], capsys)
    assert status == 130 and lines == ["download_mnist_cdcb.sh: error: interrupted"]
    assert all_files(tmp_path) == set()  # the folders it made are gone too


def test_error_page_instead_of_archive(tmp_path, monkeypatch, capsys):
    page = tmp_path / "page.html"
    page.write_text("<html>Sign in to download</html>")
    monkeypatch.setenv("IIAE_MNIST_CDCB_URL", page.as_uri())
    target = tmp_path / "target"
    status, _, lines = run_script("download_mnist_cdcb.sh", [str(target)], capsys)
    assert status != 0
    [line] = lines
    assert "not a zip or tar archive" in line
    assert not target.exists()


def test_archive_without_dataset_layout(tmp_path, monkeypatch, capsys):
    serve_file(tmp_path, monkeypatch, "IIAE_CARS_URL", "x.tar.gz", {"something/else.txt": b"x"})
    target = tmp_path / "target"
    status, _, lines = run_script("download_cars.sh", [str(target)], capsys)
    assert status != 0
    [line] = lines
    assert "expected Cars layout" in line
    assert not target.exists()


def test_incomplete_dataset_in_target_is_not_overwritten(tmp_path, monkeypatch, capsys):
    serve_file(tmp_path, monkeypatch, "IIAE_MNIST_CDCB_URL", "x.tar.gz", MNIST_FILES)
    target = tmp_path / "target"
    (target / "train").mkdir(parents=True)
    (target / "train/mine.png").write_bytes(b"mine")
    status, _, lines = run_script("download_mnist_cdcb.sh", [str(target)], capsys)
    assert status != 0
    [line] = lines
    assert "already exists" in line
    assert all_files(target) == {"train", "train/mine.png"}


@pytest.mark.parametrize("args", [[], ["celeba-hq-dataset"], ["afhq-dataset", "a", "b"]])
def test_download_sh_usage(args, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status, _, lines = run_script("download.sh", args, capsys)
    assert status == 2
    assert len(lines) == 1 and "usage: bash download.sh afhq-dataset [TARGET]" in lines[0]
    assert all_files(tmp_path) == set()


@pytest.mark.parametrize("script", ["download_mnist_cdcb.sh", "download_cars.sh", "download.sh"])
def test_help(script, capsys):
    status, out, _ = run_script(script, ["--help"], capsys)
    assert status == 0
    assert out.startswith("Usage: bash ")


def test_a_later_run_removes_the_partial_download_of_a_killed_one(tmp_path, monkeypatch, capsys):
    """A SIGKILL leaves the temporary folder with its .part file; the next run removes it (not a running
    download's) before downloading."""
    from tests.test_files import _dead_pid
    serve_file(tmp_path, monkeypatch, "IIAE_MNIST_CDCB_URL", "x.tar.gz", MNIST_FILES)
    target = tmp_path / "target"
    dead = target / f".iiae-download.tmp-{_dead_pid()}-0123abcd"
    live = target / f".iiae-download.tmp-{os.getpid()}-0123abcd"
    for folder in (dead, live):
        folder.mkdir(parents=True)
        (folder / "MNIST-CDCB-256Ims.tar.gz.part").write_bytes(b"partial")
    status, out, _ = run_script("download_mnist_cdcb.sh", [str(target)], capsys)
    assert status == 0 and f"removed the partial download of a killed run in {target}" in out
    assert not dead.exists() and live.exists()


def test_sigterm_stops_a_download_like_ctrl_c(tmp_path, monkeypatch, capsys):
    import signal

    def terminated(url, dest):
        with open(dest + ".part", "wb") as f:
            f.write(b"partial")
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(download, "fetch", terminated)
    target = tmp_path / "target"
    previous = signal.getsignal(signal.SIGTERM)
    from utils.errors import sigterm_as_interrupt
    with sigterm_as_interrupt():
        status, _, lines = run_script("download_mnist_cdcb.sh", [str(target)], capsys)
    assert signal.getsignal(signal.SIGTERM) == previous
    assert status == 128 + signal.SIGTERM and lines == ["download_mnist_cdcb.sh: error: interrupted by SIGTERM"]
    assert all_files(tmp_path) == set()


@pytest.mark.parametrize("value", ["not a url", "www.example.com/x.tar.gz", "ftp:/missing-host"])
def test_a_mirror_that_is_not_a_url_is_one_line(value, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("IIAE_MNIST_CDCB_URL", value)
    target = tmp_path / "target"
    status, _, lines = run_script("download_mnist_cdcb.sh", [str(target)], capsys)
    assert status == 2
    assert lines == [f"download_mnist_cdcb.sh: error: IIAE_MNIST_CDCB_URL is {value!r}, not a URL "
                     "(http://, https://, ftp:// or file://)"]
    assert all_files(tmp_path) == set()
