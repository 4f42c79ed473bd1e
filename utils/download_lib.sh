# shellcheck shell=bash
# Shared helpers for the dataset download scripts (download_mnist_cdcb.sh, download_cars.sh,
# download.sh). Source it; do not run it.
#
# What a script does with it:
#   iiae_install_dataset NAME ARCHIVE_FILE TARGET DATASET_ROOT LAYOUT_FN URL [URL...]
# downloads the first URL that works into a `.part` file inside a temporary folder in TARGET,
# renames it, checks every archive member (no absolute paths, no `..`, no links leading out,
# no device files) before anything is extracted, extracts into that temporary folder, finds
# the folder that has the dataset's layout (LAYOUT_FN DIR succeeds) and moves it into
# DATASET_ROOT. When LAYOUT_FN DATASET_ROOT already succeeds it says so and exits 0.
# Progress goes to stdout; every failure is one line on stderr and a non-zero exit (in a
# terminal curl/wget also draw their progress bar and may add their own line); a failed run
# leaves nothing behind.
#
# Environment: IIAE_DOWNLOADER=curl|wget picks the tool (default: curl, else wget).

IIAE_PROG=${IIAE_PROG:-$(basename "$0")}

iiae_die() {
    printf '%s: error: %s\n' "$IIAE_PROG" "$*" >&2
    exit 1
}

# iiae_usage_error WHAT USAGE: one line on stderr, exit status 2.
iiae_usage_error() {
    printf '%s: error: %s; usage: %s\n' "$IIAE_PROG" "$1" "$2" >&2
    exit 2
}

# Progress messages go to stdout, so that stderr holds nothing but the one error line.
iiae_info() {
    printf '%s: %s\n' "$IIAE_PROG" "$*"
}

# Prints the download tool to use; exits with a message when there is none.
iiae_pick_downloader() {
    local tool=${IIAE_DOWNLOADER:-}
    if [[ -n $tool ]]; then
        [[ $tool == curl || $tool == wget ]] || iiae_die "IIAE_DOWNLOADER must be 'curl' or 'wget', not '$tool'"
        command -v "$tool" >/dev/null 2>&1 || iiae_die "IIAE_DOWNLOADER=$tool but $tool is not installed"
    elif command -v curl >/dev/null 2>&1; then
        tool=curl
    elif command -v wget >/dev/null 2>&1; then
        tool=wget
    else
        iiae_die "neither curl nor wget is installed; install one of them and rerun"
    fi
    IIAE_TOOL=$tool
}

# iiae_fetch URL DEST: downloads to DEST.part and renames it to DEST only when complete.
# Returns non-zero (after removing DEST.part) on failure and leaves the reason in IIAE_FETCH_ERR.
iiae_fetch() {
    local url=$1 dest=$2 part="$2.part" out rc=0
    rm -f -- "$part"
    IIAE_FETCH_ERR=
    if [[ -t 2 ]]; then
        # Interactive: let the tool draw its progress bar (and print its own errors).
        if [[ $IIAE_TOOL == curl ]]; then
            curl --fail --location --retry 2 --connect-timeout 30 --progress-bar -o "$part" -- "$url" || rc=$?
        else
            wget --no-verbose --show-progress --tries=2 --timeout=60 -O "$part" -- "$url" || rc=$?
        fi
        out="$IIAE_TOOL exit status $rc"
    else
        # Not a terminal: stay quiet and keep the tool's message for our one-line error.
        if [[ $IIAE_TOOL == curl ]]; then
            out=$(curl --fail --location --silent --show-error --retry 2 --connect-timeout 30 \
                -o "$part" -- "$url" 2>&1) || rc=$?
        else
            out=$(wget --no-verbose --tries=2 --timeout=60 -O "$part" -- "$url" 2>&1) || rc=$?
        fi
        out=$(printf '%s\n' "$out" | grep -v '^[[:space:]]*$' | tail -n 1 || true)
        [[ -n $out ]] || out="$IIAE_TOOL exit status $rc"
    fi
    if ((rc != 0)); then
        rm -f -- "$part"
        IIAE_FETCH_ERR=$out
        return 1
    fi
    mv -f -- "$part" "$dest"
}

# iiae_safe_extract ARCHIVE DEST: refuses the whole archive (exit 1, one line on stderr, nothing
# extracted) if any member is absolute, has a `..` component, is a device/fifo, lies under a
# link, or is a link whose target leaves DEST or passes through another link; otherwise
# extracts it into DEST. Handles .zip and .tar/.tar.gz/.tar.bz2/.tar.xz (the same parser does
# the check and the extraction, so they cannot disagree about member names).
iiae_safe_extract() {
    command -v python3 >/dev/null 2>&1 || iiae_die "python3 is required to check and unpack the archive"
    python3 - "$IIAE_PROG" "$1" "$2" <<'PY'
import re
import stat
import sys
import tarfile
import zipfile
import zlib

prog, archive, dest = sys.argv[1:4]


def fail(msg):
    msg = " ".join(str(msg).split())
    print(f"{prog}: error: {msg}", file=sys.stderr)
    sys.exit(1)


def parts_of(name):
    """Path components of a member name, or None if it is absolute or climbs out."""
    if "\0" in name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return None
    parts = [p for p in re.split(r"[/\\]", name) if p not in ("", ".")]
    if ".." in parts:
        return None
    return parts


def resolve_link(base, target, links):
    """Where a relative link target lands, walking from folder `base` (a list of components);
    None when it leaves the extraction folder, is absolute or walks through another link."""
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


def check(entries):
    """entries: list of (name, kind, link_target) with kind in file/dir/symlink/hardlink/special."""
    links = set()
    for name, kind, _ in entries:
        parts = parts_of(name)
        if parts is None:
            fail(f"refusing archive {archive}: unsafe member path {name!r} (absolute or contains '..')")
        if kind in ("symlink", "hardlink"):
            links.add("/".join(parts))
    for name, kind, target in entries:
        parts = parts_of(name)
        if kind == "special":
            fail(f"refusing archive {archive}: member {name!r} is a device or fifo")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in links:
                fail(f"refusing archive {archive}: member {name!r} lies under a link")
        if kind == "symlink" and (not parts or resolve_link(parts[:-1], target, links - {"/".join(parts)}) is None):
            fail(f"refusing archive {archive}: link {name!r} -> {target!r} points outside the archive folder")
        if kind == "hardlink" and resolve_link([], target, links) is None:
            fail(f"refusing archive {archive}: hard link {name!r} -> {target!r} points outside the archive folder")


try:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            entries = []
            for info in zf.infolist():
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    target = zf.read(info).decode("utf-8", "replace")
                    entries.append((info.filename, "symlink", target))
                elif info.is_dir():
                    entries.append((info.filename, "dir", None))
                else:
                    entries.append((info.filename, "file", None))
            check(entries)
            bad = zf.testzip()
            if bad is not None:
                fail(f"corrupt archive {archive}: bad CRC for member {bad!r}")
            zf.extractall(dest)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive, "r:*") as tf:
            members = tf.getmembers()
            entries = []
            for m in members:
                if m.issym():
                    entries.append((m.name, "symlink", m.linkname))
                elif m.islnk():
                    entries.append((m.name, "hardlink", m.linkname))
                elif m.isdir():
                    entries.append((m.name, "dir", None))
                elif m.isreg():
                    entries.append((m.name, "file", None))
                else:
                    entries.append((m.name, "special", None))
            check(entries)
            # Belt and braces: Python's own 'data' filter where this Python has it.
            if hasattr(tarfile, "data_filter"):
                tf.extractall(dest, members=members, filter="data")
            else:
                tf.extractall(dest, members=members)
    else:
        fail(f"{archive} is not a zip or tar archive (the server may have sent an error page)")
except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
    fail(f"corrupt archive {archive}: {exc}")
except OSError as exc:
    fail(f"could not unpack {archive}: {exc}")
PY
}

# iiae_find_layout ROOT LAYOUT_FN: prints the shallowest folder under ROOT (ROOT itself
# included, at most 3 levels down) for which LAYOUT_FN succeeds; returns 1 if none does.
iiae_find_layout() {
    local root=$1 layout_fn=$2 depth dir
    for depth in 0 1 2 3; do
        while IFS= read -r -d '' dir; do
            if "$layout_fn" "$dir"; then
                printf '%s' "$dir"
                return 0
            fi
        done < <(find "$root" -mindepth "$depth" -maxdepth "$depth" -type d -print0 | sort -z)
    done
    return 1
}

# iiae_install_tree SRC DST: makes SRC's contents DST's contents. If DST does not exist SRC is
# renamed to it; otherwise every entry of SRC is moved in, after checking none of them is
# already there (nothing is moved if one is).
iiae_install_tree() {
    local src=$1 dst=$2 entry name
    if [[ ! -e $dst && ! -L $dst ]]; then
        mv -- "$src" "$dst" 2>/dev/null || iiae_die "cannot move the unpacked dataset to $dst"
        return 0
    fi
    [[ -d $dst ]] || iiae_die "$dst exists and is not a folder"
    local entries=()
    shopt -s nullglob dotglob
    entries=("$src"/*)
    shopt -u nullglob dotglob
    for entry in "${entries[@]}"; do
        name=${entry##*/}
        if [[ -e $dst/$name || -L $dst/$name ]]; then
            iiae_die "$dst/$name already exists but the dataset there is incomplete; move it away and rerun"
        fi
    done
    for entry in "${entries[@]}"; do
        mv -- "$entry" "$dst/" 2>/dev/null || iiae_die "cannot move ${entry##*/} into $dst"
    done
}

_iiae_cleanup() {
    if [[ -n ${_IIAE_TMP:-} && -d $_IIAE_TMP ]]; then
        rm -rf -- "$_IIAE_TMP"
    fi
    # Remove the folders this run created (deepest first), as long as they are empty.
    if [[ -n ${_IIAE_CREATED_TOP:-} ]]; then
        local dir=$_IIAE_CREATED_LEAF
        while rmdir -- "$dir" 2>/dev/null && [[ $dir != "$_IIAE_CREATED_TOP" ]]; do
            dir=$(dirname -- "$dir")
        done
    fi
}

# iiae_install_dataset NAME ARCHIVE_FILE TARGET DATASET_ROOT LAYOUT_FN URL [URL...]
#   NAME          words for messages ("MNIST-CDCB")
#   ARCHIVE_FILE  file name to save the download as ("afhq.zip")
#   TARGET        folder the user named; the temporary folder is made inside it
#   DATASET_ROOT  folder that must pass LAYOUT_FN when done (TARGET or a folder in it)
#   LAYOUT_FN     function: succeeds when its argument holds the complete dataset
#   URL...        tried in order until one downloads
iiae_install_dataset() {
    local name=$1 archive_file=$2 target=$3 root=$4 layout_fn=$5
    shift 5
    local urls=("$@") url archive payload errors=()

    if "$layout_fn" "$root"; then
        printf '%s is already in place in %s; nothing to do.\n' "$name" "$root"
        exit 0
    fi
    ((${#urls[@]} > 0)) || iiae_die "no download URL given for $name"
    command -v python3 >/dev/null 2>&1 || iiae_die "python3 is required to check and unpack the archive"
    iiae_pick_downloader

    if [[ ! -d $target ]]; then
        [[ -e $target || -L $target ]] && iiae_die "$target exists and is not a folder"
        # Remember the folders we create so a failed run can remove them again.
        local top=$target
        while [[ ! -e $(dirname -- "$top") ]]; do top=$(dirname -- "$top"); done
        mkdir -p -- "$target" 2>/dev/null || iiae_die "cannot create folder $target"
        _IIAE_CREATED_LEAF=$target
        _IIAE_CREATED_TOP=$top
    fi
    trap _iiae_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    _IIAE_TMP=$(mktemp -d "$target/.iiae-download.XXXXXX" 2>/dev/null) || iiae_die "cannot create a temporary folder in $target"

    archive="$_IIAE_TMP/$archive_file"
    for url in "${urls[@]}"; do
        iiae_info "downloading $name from $url"
        if iiae_fetch "$url" "$archive"; then
            break
        fi
        errors+=("$url: $IIAE_FETCH_ERR")
    done
    if [[ ! -f $archive ]]; then
        local joined
        joined=$(printf '%s; ' "${errors[@]}")
        iiae_die "download of $name failed (${joined%; })"
    fi

    iiae_info "checking and unpacking $archive_file"
    mkdir -- "$_IIAE_TMP/tree"
    iiae_safe_extract "$archive" "$_IIAE_TMP/tree" || exit 1
    rm -f -- "$archive"

    payload=$(iiae_find_layout "$_IIAE_TMP/tree" "$layout_fn") \
        || iiae_die "the downloaded archive does not have the expected $name layout"
    iiae_install_tree "$payload" "$root"
    "$layout_fn" "$root" || iiae_die "$name was unpacked but $root does not have the expected layout"
    _IIAE_CREATED_TOP=
    iiae_info "$name is ready in $root"
}
