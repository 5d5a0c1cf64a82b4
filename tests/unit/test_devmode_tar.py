"""The hand-written tar headers of dev-mode sync read back as the same members with tarfile
and GNU tar (names of every length, symlinks)."""

import io
import subprocess
import tarfile

from veladev.devmode.sync import tar_header

NAMES = [
    "a.txt",
    "dir/sub/" + "n" * 90 + ".py",
    "p" * 120 + "/" + "f" * 99,
    "x" * 140 + "/" + "y" * 130,
    "ünïcödé/файл.txt",
]


def archive():
    out = io.BytesIO()
    for i, name in enumerate(NAMES):
        data = f"content {i}\n".encode() * (i + 1)
        out.write(tar_header(name, len(data), 0o644 if i else 0o755, 1_700_000_000 + i))
        out.write(data + bytes(-len(data) % 512))
    out.write(tar_header("link", 0, 0o777, 1_700_000_000, "a.txt"))
    out.write(bytes(1024))
    return out.getvalue()


def test_tarfile_reads_every_member_back():
    with tarfile.open(fileobj=io.BytesIO(archive())) as tf:
        members = tf.getmembers()
        assert [m.name for m in members] == NAMES + ["link"]
        for i, m in enumerate(members[:-1]):
            f = tf.extractfile(m)
            assert f is not None and f.read() == f"content {i}\n".encode() * (i + 1)
            assert m.mtime == 1_700_000_000 + i and m.mode == (0o644 if i else 0o755)
        assert members[-1].issym() and members[-1].linkname == "a.txt"


def test_gnu_tar_extracts_it(tmp_path):
    subprocess.run(["tar", "-xmof", "-", "-C", str(tmp_path)], input=archive(), check=True)
    for i, name in enumerate(NAMES):
        assert (tmp_path / name).read_bytes() == f"content {i}\n".encode() * (i + 1)
    assert (tmp_path / "link").is_symlink() and (tmp_path / "link").read_bytes() == b"content 0\n"
