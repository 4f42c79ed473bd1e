"""The dataset download scripts, run against a local HTTP server (127.0.0.1 only).

Each test builds a tiny archive in the real dataset's layout, serves it, points the script's
URL variable at it and checks what lands in a temporary target folder. The happy paths run
once per installed download tool (curl, wget) through IIAE_DOWNLOADER.
"""

import functools
import http.server
import io
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS = [tool for tool in ("curl", "wget") if shutil.which(tool)]

pytestmark = pytest.mark.skipif(not TOOLS, reason="neither curl nor wget is installed")

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

# script, extra arguments before TARGET, URL variable, archive name, files, where they land
DATASETS = {
    "mnist": ("download_mnist_cdcb.sh", [], "IIAE_MNIST_CDCB_URL", "MNIST-CDCB-256Ims.tar.gz",
              MNIST_FILES, lambda name: name.removeprefix("MNIST-CDCB/")),
    "cars": ("download_cars.sh", [], "IIAE_CARS_URL", "nips2015-analogy-data.tar.gz",
             CARS_FILES, lambda name: name.removeprefix("data/cars/")
             if name.startswith("data/cars/") else None),
    "afhq": ("download.sh", ["afhq-dataset"], "IIAE_AFHQ_URL", "afhq.zip", AFHQ_FILES,
             lambda name: name),
}


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


def run(script, args, env_extra, cwd):
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    # The scripts call python3: find this interpreter first (a pyenv shim costs ~0.15 s a call).
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    for key in ("IIAE_MNIST_CDCB_URL", "IIAE_CARS_URL", "IIAE_AFHQ_URL", "IIAE_DOWNLOADER"):
        env.pop(key, None)
    env.update(env_extra)
    return subprocess.run(["bash", str(ROOT / script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def all_files(folder):
    """Every path under folder (files, folders, links), relative, as strings."""
    folder = Path(folder)
    if not folder.exists():
        return set()
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def error_lines(proc):
    return [line for line in proc.stderr.splitlines() if line.strip()]


def expected_layout(dataset, target):
    _, _, _, _, files, dest = DATASETS[dataset]
    return {Path(target) / dest(name): data for name, data in files.items() if dest(name) is not None}


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_download_lands_in_expected_layout(dataset, tool, server, tmp_path):
    script, pre, var, archive, files, _ = DATASETS[dataset]
    srv, base = server
    make_archive(srv / archive, files)
    target = tmp_path / "out" / "target"

    proc = run(script, [*pre, str(target)], {var: f"{base}/{archive}", "IIAE_DOWNLOADER": tool},
               tmp_path)

    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert f"is ready in {target}" in proc.stdout
    expected = expected_layout(dataset, target)
    for path, data in expected.items():
        assert path.read_bytes() == data, path
    # Nothing else: no archive, no temporary folder, none of the archive's other data sets.
    landed = {p for p in target.rglob("*") if p.is_file()}
    assert landed == set(expected)
    assert [p.name for p in target.iterdir() if p.name.startswith(".")] == []


def test_afhq_default_layout_is_data_afhq(server, tmp_path):
    srv, base = server
    make_zip(srv / "afhq.zip", AFHQ_FILES)
    proc = run("download.sh", ["afhq-dataset"], {"IIAE_AFHQ_URL": f"{base}/afhq.zip"}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "data/afhq/train/cat/flickr_cat_000001.jpg").read_bytes() == b"train-cat-1"
    assert (tmp_path / "data/afhq/val/wild/flickr_wild_000002.jpg").is_file()


def test_mnist_archive_without_top_folder(server, tmp_path):
    """The payload is found whether or not the archive wraps it in a folder."""
    srv, base = server
    make_tar(srv / "m.tar.gz", {k.removeprefix("MNIST-CDCB/"): v for k, v in MNIST_FILES.items()})
    target = tmp_path / "MNIST-CDCB"
    target.mkdir()  # an existing empty target is fine
    proc = run("download_mnist_cdcb.sh", [str(target)],
               {"IIAE_MNIST_CDCB_URL": f"{base}/m.tar.gz"}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (target / "train/00002.png").read_bytes() == b"train-2"
    assert (target / "test/00001.png").read_bytes() == b"test-1"


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_second_run_is_idempotent(dataset, server, tmp_path):
    script, pre, var, archive, files, _ = DATASETS[dataset]
    srv, base = server
    make_archive(srv / archive, files)
    target = tmp_path / "target"
    env = {var: f"{base}/{archive}"}
    first = run(script, [*pre, str(target)], env, tmp_path)
    assert first.returncode == 0, first.stderr
    before = {p: p.stat().st_mtime_ns for p in target.rglob("*")}

    # The archive is gone from the server: a second download attempt would fail.
    (srv / archive).unlink()
    second = run(script, [*pre, str(target)], env, tmp_path)

    assert second.returncode == 0, second.stderr
    assert "already in place" in second.stdout
    assert {p: p.stat().st_mtime_ns for p in target.rglob("*")} == before


EVIL_MEMBERS = ["../evil", "../../evil", "../../../evil", "../../../../evil", "a/../../../evil"]


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_dotdot_member_refuses_whole_archive(dataset, server, tmp_path):
    script, pre, var, archive, files, _ = DATASETS[dataset]
    srv, base = server
    # Good members first, so a check done while extracting would already have written them.
    make_archive(srv / archive, {**files, **{name: b"evil" for name in EVIL_MEMBERS}})
    work = tmp_path / "work"
    target = work / "target"

    proc = run(script, [*pre, str(target)], {var: f"{base}/{archive}"}, tmp_path)

    assert proc.returncode != 0
    lines = error_lines(proc)
    assert len(lines) == 1 and "unsafe member" in lines[0] and "../" in lines[0], proc.stderr
    assert not any(p.name == "evil" for p in tmp_path.rglob("*"))
    assert all_files(work) == set()  # no partial dataset, no archive, no temp folder


@pytest.mark.parametrize("archive", ["x.tar.gz", "x.zip"])
def test_absolute_member_is_refused(archive, server, tmp_path):
    srv, base = server
    victim = tmp_path / "abs_victim.png"
    make_archive(srv / archive, {**MNIST_FILES, str(victim): b"evil"})
    target = tmp_path / "target"
    proc = run("download_mnist_cdcb.sh", [str(target)],
               {"IIAE_MNIST_CDCB_URL": f"{base}/{archive}"}, tmp_path)
    assert proc.returncode != 0
    assert len(error_lines(proc)) == 1 and "unsafe member" in proc.stderr
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
def test_link_leading_out_is_refused(archive, links, server, tmp_path):
    srv, base = server
    files = dict(MNIST_FILES)
    if links[0][0] == "MNIST-CDCB/dir":
        files["MNIST-CDCB/dir/x.png"] = b"through a link"
    make_archive(srv / archive, files, links)
    target = tmp_path / "target"
    proc = run("download_mnist_cdcb.sh", [str(target)],
               {"IIAE_MNIST_CDCB_URL": f"{base}/{archive}"}, tmp_path)
    assert proc.returncode != 0
    lines = error_lines(proc)
    assert len(lines) == 1 and "refusing archive" in lines[0], proc.stderr
    assert not target.exists()


def test_link_inside_archive_is_accepted(server, tmp_path):
    srv, base = server
    make_tar(srv / "x.tar.gz", MNIST_FILES, [("MNIST-CDCB/test/00009.png", "../train/00001.png")])
    target = tmp_path / "target"
    proc = run("download_mnist_cdcb.sh", [str(target)],
               {"IIAE_MNIST_CDCB_URL": f"{base}/x.tar.gz"}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (target / "test/00009.png").read_bytes() == b"train-1"


@pytest.mark.parametrize("tool", TOOLS)
def test_404_leaves_nothing_and_fails(tool, server, tmp_path):
    _, base = server
    target = tmp_path / "data"
    proc = run("download.sh", ["afhq-dataset", str(target)],
               {"IIAE_AFHQ_URL": f"{base}/missing.zip", "IIAE_DOWNLOADER": tool}, tmp_path)
    assert proc.returncode != 0
    [line] = error_lines(proc)
    assert line.startswith("download.sh: error: download of AFHQ failed") and "404" in line
    assert not target.exists()
    assert not list(tmp_path.rglob("*.part"))


def test_404_in_existing_target_leaves_it_as_it_was(server, tmp_path):
    _, base = server
    target = tmp_path / "cars"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    proc = run("download_cars.sh", [str(target)], {"IIAE_CARS_URL": f"{base}/nope.tar.gz"},
               tmp_path)
    assert proc.returncode != 0
    assert all_files(target) == {"notes.txt"}


def test_error_page_instead_of_archive(server, tmp_path):
    srv, base = server
    (srv / "page.html").write_text("<html>Sign in to download</html>")
    target = tmp_path / "target"
    proc = run("download_mnist_cdcb.sh", [str(target)],
               {"IIAE_MNIST_CDCB_URL": f"{base}/page.html"}, tmp_path)
    assert proc.returncode != 0
    [line] = error_lines(proc)
    assert "not a zip or tar archive" in line
    assert not target.exists()


def test_archive_without_dataset_layout(server, tmp_path):
    srv, base = server
    make_tar(srv / "x.tar.gz", {"something/else.txt": b"x"})
    target = tmp_path / "target"
    proc = run("download_cars.sh", [str(target)], {"IIAE_CARS_URL": f"{base}/x.tar.gz"}, tmp_path)
    assert proc.returncode != 0
    [line] = error_lines(proc)
    assert "expected Cars layout" in line
    assert not target.exists()


def test_incomplete_dataset_in_target_is_not_overwritten(server, tmp_path):
    srv, base = server
    make_tar(srv / "x.tar.gz", MNIST_FILES)
    target = tmp_path / "target"
    (target / "train").mkdir(parents=True)
    (target / "train/mine.png").write_bytes(b"mine")
    proc = run("download_mnist_cdcb.sh", [str(target)],
               {"IIAE_MNIST_CDCB_URL": f"{base}/x.tar.gz"}, tmp_path)
    assert proc.returncode != 0
    [line] = error_lines(proc)
    assert "already exists" in line
    assert all_files(target) == {"train", "train/mine.png"}


def test_no_download_tool(server, tmp_path):
    """With curl and wget off the PATH the script says so in one line."""
    _, base = server
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for folder in [os.path.dirname(sys.executable), *os.environ["PATH"].split(os.pathsep)]:
        if not os.path.isdir(folder):
            continue
        for entry in os.scandir(folder):
            link = bin_dir / entry.name
            if entry.name in ("curl", "wget") or link.exists() or link.is_symlink():
                continue
            link.symlink_to(entry.path)
    proc = run("download_mnist_cdcb.sh", [str(tmp_path / "target")],
               {"PATH": str(bin_dir), "IIAE_MNIST_CDCB_URL": f"{base}/x.tar.gz"}, tmp_path)
    assert proc.returncode != 0
    assert error_lines(proc) == [
        "download_mnist_cdcb.sh: error: neither curl nor wget is installed; "
        "install one of them and rerun"]
    assert not (tmp_path / "target").exists()


@pytest.mark.parametrize("args", [[], ["celeba-hq-dataset"], ["afhq-dataset", "a", "b"]])
def test_download_sh_usage(args, tmp_path):
    proc = run("download.sh", args, {}, tmp_path)
    assert proc.returncode == 2
    lines = error_lines(proc)
    assert len(lines) == 1 and "usage: bash download.sh afhq-dataset [TARGET]" in lines[0]
    assert all_files(tmp_path) == set()


@pytest.mark.parametrize("script", ["download_mnist_cdcb.sh", "download_cars.sh", "download.sh"])
def test_help(script, tmp_path):
    proc = run(script, ["--help"], {}, tmp_path)
    assert proc.returncode == 0
    assert proc.stdout.startswith("Usage: bash ")
