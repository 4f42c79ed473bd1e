"""Dataset downloads, for the three top-level scripts (which pass their own name first):

    bash download_mnist_cdcb.sh [TARGET]       MNIST-CDCB into TARGET/train, TARGET/test (./MNIST-CDCB)
    bash download_cars.sh [TARGET]             Cars' car_NNN_mesh.mat files into TARGET (./data/cars)
    bash download.sh afhq-dataset [TARGET]     AFHQ into TARGET/afhq/{train,val}/{cat,dog,wild} (./data)

The archive is fetched into a `.part` file, renamed only when complete (its size checked against the
server's Content-Length: none of the three hosts publishes a checksum). Every member is checked before
anything is unpacked (no absolute paths, no `..`, no links leading out or through another link, no
device files), then unpacked (tar with Python's "data" filter) into a temporary folder inside TARGET,
and the folder with the dataset's layout is moved into place. A dataset already in place is left alone;
a failed run leaves nothing behind and says why in one line on stderr. IIAE_MNIST_CDCB_URL,
IIAE_CARS_URL and IIAE_AFHQ_URL name a mirror. Standard library only: runs on any python3.
"""
import glob
import http.client
import os
import re
import shutil
import socket
import stat
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from typing import Callable, Tuple

from utils.errors import UserError, interruption, one_line, sigterm_as_interrupt
from utils.files import remove_stale, temporary_name


class DownloadError(UserError):
    exit_code = 1


def _mnist_cdcb_layout(folder):
    return all(glob.glob(os.path.join(glob.escape(folder), split, "*.png")) for split in ("train", "test"))


def _cars_layout(folder):
    return bool(glob.glob(os.path.join(glob.escape(folder), "car_*_mesh.mat")))


def _afhq_layout(folder):
    # wild/ is in the archive too, unused here.
    return all(os.path.isdir(os.path.join(folder, split, kind))
               for split in ("train", "val") for kind in ("cat", "dog"))


@dataclass(frozen=True)
class Dataset:
    name: str  # for messages
    archive: str  # file name the download is saved as
    urls: Tuple[str, ...]  # tried in order
    url_variable: str  # environment variable naming a mirror instead
    default_target: str
    subfolder: str  # where in TARGET the dataset lands ("" = TARGET itself)
    layout: Callable[[str], bool]  # whether a folder holds the complete dataset
    contents: str  # for --help


DATASETS = {
    "mnist-cdcb": Dataset(
        "MNIST-CDCB", "MNIST-CDCB-256Ims.tar.gz",
        ("http://www.cvc.uab.es/lamp/wp-content/shared_files/cross-domain-disen/MNIST-CDCB-256Ims.tar.gz",),
        "IIAE_MNIST_CDCB_URL", "./MNIST-CDCB", "", _mnist_cdcb_layout, "MNIST-CDCB into TARGET/train and TARGET/test"),
    "cars": Dataset(
        "Cars", "nips2015-analogy-data.tar.gz",
        ("http://www.scottreed.info/files/nips2015-analogy-data.tar.gz",
         "http://www-personal.umich.edu/~reedscot/files/nips2015-analogy-data.tar.gz"),
        "IIAE_CARS_URL", "./data/cars", "", _cars_layout, "the Cars data (car_NNN_mesh.mat files) into TARGET"),
    # StarGAN v2's link with dl=1: the file itself rather than Dropbox's preview page.
    "afhq": Dataset(
        "AFHQ", "afhq.zip", ("https://www.dropbox.com/s/t9l9o3vsx2jai3z/afhq.zip?dl=1",),
        "IIAE_AFHQ_URL", "./data", "afhq", _afhq_layout, "AFHQ into TARGET/afhq/{train,val}/{cat,dog,wild}"),
}

# The top-level scripts: the word their user types before TARGET ("" for none) and the dataset.
SCRIPTS = {
    "download_mnist_cdcb.sh": ("", "mnist-cdcb"),
    "download_cars.sh": ("", "cars"),
    "download.sh": ("afhq-dataset", "afhq"),
}


# ---- fetching ------------------------------------------------------------------------------------
class _Truncated(OSError):
    pass


def _transient(error):
    """Worth another attempt: what curl --retry retries (timeouts, HTTP 408, 429 and 5xx) and a transfer
    cut short."""
    if isinstance(error, urllib.error.HTTPError):
        return error.code in (408, 429) or error.code >= 500
    reason = getattr(error, "reason", error)  # URLError wraps the socket's error
    return isinstance(reason, (TimeoutError, socket.timeout, ConnectionResetError, http.client.IncompleteRead,
                               _Truncated))


def _reason(error):
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    return str(getattr(error, "reason", None) or error) or type(error).__name__


def fetch(url, dest, attempts=3, timeout=60):
    """Download `url` to `dest` through `dest.part`, renamed only when complete; a timeout, a server error
    or a transfer cut short is retried (attempts in all). DownloadError(reason) when it does not succeed."""
    part = dest + ".part"
    try:
        for attempt in range(1, attempts + 1):
            try:
                _fetch_once(url, part, timeout)
                os.replace(part, dest)
                return
            except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
                if attempt == attempts or not _transient(e):
                    raise DownloadError(_reason(e)) from None
            time.sleep(2 * attempt)
    finally:
        if os.path.exists(part):
            os.remove(part)


def _fetch_once(url, part, timeout):
    request = urllib.request.Request(url, headers={"User-Agent": "iiae-download (Python urllib)"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(part, "wb") as f:
        expected = response.headers.get("Content-Length")
        expected = int(expected) if expected and expected.isdigit() else None
        done = 0
        while True:
            chunk = response.read(1 << 20)
            if not chunk:
                break
            f.write(chunk)
            done += len(chunk)
            if sys.stderr.isatty():  # a progress line on a terminal only: stderr is for the error line
                total = f" of {expected / 2 ** 20:.1f}" if expected else ""
                sys.stderr.write(f"\r{done / 2 ** 20:.1f}{total} MiB")
        if sys.stderr.isatty():
            sys.stderr.write("\n")
    if expected is not None and done != expected:
        raise _Truncated(f"the connection closed after {done} of {expected} bytes")


# ---- checking and unpacking -------------------------------------------------------------------------
def _parts(name):
    """Path components of a member name, or None if it is absolute or climbs out."""
    if "\0" in name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return None
    parts = [p for p in re.split(r"[/\\]", name) if p not in ("", ".")]
    return None if ".." in parts else parts


def _resolve_link(base, target, links):
    """Where a relative link target lands, walking from folder `base` (a list of components); None when
    it leaves the extraction folder, is absolute or walks through another link."""
    if target.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", target) or "\0" in target:
        return None
    here = list(base)
    for comp in re.split(r"[/\\]", target):
        if comp in ("", "."):
            continue
        if comp == "..":
            if not here:
                return None
            here.pop()
            continue
        here.append(comp)
        if "/".join(here) in links:
            return None
    return here


def check_members(archive, entries):
    """entries: (name, kind, link target) with kind file, dir, symlink, hardlink or special. DownloadError
    for the first member that would land outside the extraction folder, or is a device or fifo."""
    refuse = f"refusing archive {os.path.basename(archive)}:"
    links = set()
    for name, kind, _ in entries:
        parts = _parts(name)
        if parts is None:
            raise DownloadError(f"{refuse} unsafe member path {name!r} (absolute or contains '..')")
        if kind in ("symlink", "hardlink"):
            links.add("/".join(parts))
    for name, kind, target in entries:
        parts = _parts(name)
        if kind == "special":
            raise DownloadError(f"{refuse} member {name!r} is a device or fifo")
        if any("/".join(parts[:i]) in links for i in range(1, len(parts))):
            raise DownloadError(f"{refuse} member {name!r} lies under a link")
        if kind == "symlink" and (not parts or _resolve_link(parts[:-1], target, links - {"/".join(parts)}) is None):
            raise DownloadError(f"{refuse} link {name!r} -> {target!r} points outside the archive folder")
        if kind == "hardlink" and _resolve_link([], target, links) is None:
            raise DownloadError(f"{refuse} hard link {name!r} -> {target!r} points outside the archive folder")


def _tar_kind(member):
    if member.issym():
        return "symlink"
    if member.islnk():
        return "hardlink"
    return "dir" if member.isdir() else "file" if member.isreg() else "special"


def safe_extract(archive, dest):
    """Unpack a zip or tar archive into `dest` after check_members passed for all of it (the parser that
    checks is the one that extracts, so they cannot disagree about member names)."""
    name = os.path.basename(archive)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                check_members(archive, [(i.filename, "symlink", zf.read(i).decode("utf-8", "replace"))
                                        if stat.S_ISLNK(i.external_attr >> 16)
                                        else (i.filename, "dir" if i.is_dir() else "file", None)
                                        for i in zf.infolist()])
                bad = zf.testzip()
                if bad is not None:
                    raise DownloadError(f"corrupt archive {name}: bad CRC for member {bad!r}")
                zf.extractall(dest)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive, "r:*") as tf:
                members = tf.getmembers()
                check_members(archive, [(m.name, _tar_kind(m), m.linkname) for m in members])
                # Python's own check as well, where this Python has it (3.12, and 3.8.17+ ... 3.11.4+).
                if hasattr(tarfile, "data_filter"):
                    tf.extractall(dest, members=members, filter="data")
                else:
                    tf.extractall(dest, members=members)
        else:
            raise DownloadError(f"{name} is not a zip or tar archive (the server may have sent an error page)")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as e:
        raise DownloadError(f"corrupt archive {name}: {e}") from None
    except OSError as e:
        raise DownloadError(f"could not unpack {name}: {e}") from None


# ---- installing ----------------------------------------------------------------------------------
def find_layout(root, layout, max_depth=3):
    """The shallowest folder under root (root included, at most max_depth down; links not followed, in
    sorted order at each depth) for which layout() holds, or None."""
    level = [root]
    for _ in range(max_depth + 1):
        for folder in level:
            if layout(folder):
                return folder
        level = sorted(os.path.join(folder, e.name) for folder in level for e in os.scandir(folder)
                       if e.is_dir(follow_symlinks=False))
    return None


def install_tree(src, dst):
    """Make src's contents dst's: src is renamed to dst when dst does not exist; otherwise src's entries
    are moved in, after checking that none of them is there already (then nothing is moved)."""
    if not os.path.lexists(dst):
        try:
            os.rename(src, dst)
        except OSError:
            raise DownloadError(f"cannot move the unpacked dataset to {dst}") from None
        return
    if not os.path.isdir(dst):
        raise DownloadError(f"{dst} exists and is not a folder")
    entries = sorted(os.listdir(src))
    for name in entries:
        if os.path.lexists(os.path.join(dst, name)):
            raise DownloadError(f"{os.path.join(dst, name)} already exists but the dataset there is incomplete; "
                                "move it away and rerun")
    for name in entries:
        try:
            os.rename(os.path.join(src, name), os.path.join(dst, name))
        except OSError:
            raise DownloadError(f"cannot move {name} into {dst}") from None


def _make_folder(target):
    """Create target and its missing parents; returns those created, deepest first."""
    if os.path.lexists(target) and not os.path.isdir(target):
        raise DownloadError(f"{target} exists and is not a folder")
    created, folder = [], os.path.abspath(target)
    while not os.path.exists(folder):
        created.append(folder)
        folder = os.path.dirname(folder)
    try:
        os.makedirs(target, exist_ok=True)
    except OSError:
        raise DownloadError(f"cannot create folder {target}") from None
    return created


def _is_url(text):
    """What urllib can fetch: http, https or ftp with a host, or a file:// URL."""
    parts = urllib.parse.urlsplit(text)
    return parts.scheme == "file" or (parts.scheme in ("http", "https", "ftp") and bool(parts.netloc))


_DOWNLOADING = "iiae-download"  # what the temporary folder inside TARGET is named after


def install(dataset, target, say=print):
    """Download `dataset` (a Dataset) into `target` from its mirror variable's URL, else the first of its
    own that works; returns the dataset folder. say: where progress messages go."""
    root = os.path.join(target, dataset.subfolder) if dataset.subfolder else target
    if dataset.layout(root):
        say(f"{dataset.name} is already in place in {root}; nothing to do.")
        return root
    mirror = os.environ.get(dataset.url_variable)
    if mirror and not _is_url(mirror):
        raise UserError(f"{dataset.url_variable} is {mirror!r}, not a URL (http://, https://, ftp:// or file://)")
    urls = (mirror,) if mirror else dataset.urls
    created = _make_folder(target)
    tmp = None
    try:
        # A SIGKILL skips every cleanup: a later run removes the partial download it left.
        if remove_stale(target, _DOWNLOADING):
            say(f"removed the partial download of a killed run in {target}")
        tmp = temporary_name(os.path.join(target, _DOWNLOADING))
        os.mkdir(tmp)
        archive = os.path.join(tmp, dataset.archive)
        errors = []
        for url in urls:
            say(f"downloading {dataset.name} from {url}")
            try:
                fetch(url, archive)
                break
            except DownloadError as e:
                errors.append(f"{url}: {e}")
        else:
            raise DownloadError(f"download of {dataset.name} failed ({'; '.join(errors)})")
        say(f"checking and unpacking {dataset.archive}")
        tree = os.path.join(tmp, "tree")
        os.mkdir(tree)
        safe_extract(archive, tree)
        os.remove(archive)
        payload = find_layout(tree, dataset.layout)
        if payload is None:
            raise DownloadError(f"the downloaded archive does not have the expected {dataset.name} layout")
        install_tree(payload, root)
        if not dataset.layout(root):
            raise DownloadError(f"{dataset.name} was unpacked but {root} does not have the expected layout")
        created = []
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        for folder in created:  # a failed run removes the folders it made, as long as they are empty
            try:
                os.rmdir(folder)
            except OSError:
                break
    say(f"{dataset.name} is ready in {root}")
    return root


# ---- the scripts' command line -------------------------------------------------------------------------
def main(argv):
    """argv: the script's name (a key of SCRIPTS), then its user's arguments. Returns the exit status."""
    script, args = argv[0], list(argv[1:])
    word, key = SCRIPTS[script]
    dataset = DATASETS[key]
    usage = f"bash {script} {word + ' ' if word else ''}[TARGET]"

    def say(text):  # progress on stdout, so that stderr holds nothing but the one error line
        print(f"{script}: {text}", flush=True)

    try:
        if args[:1] in (["-h"], ["--help"]):
            print(f"Usage: {usage}   (default TARGET: {dataset.default_target})\n"
                  f"Downloads {dataset.contents}. Set {dataset.url_variable} to use another URL.")
            return 0
        if word:
            offered = f"(the only one offered is {word})"
            if not args:
                raise UserError(f"no dataset named {offered}; usage: {usage}")
            if args[0] != word:
                raise UserError(f"unknown dataset '{args[0]}' {offered}; usage: {usage}")
            args = args[1:]
        elif args and args[0].startswith("-"):
            raise UserError(f"unknown option {args[0]}; usage: {usage}")
        if len(args) > 1:
            raise UserError(f"too many arguments; usage: {usage}")
        install(dataset, args[0] if args else dataset.default_target, say)
    except UserError as e:
        print(f"{script}: error: {' '.join(one_line(e).split())}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt as e:
        message, status = interruption(e)
        print(f"{script}: error: {message}", file=sys.stderr)
        return status
    return 0


if __name__ == "__main__":
    # SIGTERM unwinds like Ctrl-C, so the temporary folder is removed.
    with sigterm_as_interrupt():
        sys.exit(main(sys.argv[1:]))
