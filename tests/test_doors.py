"""Every door locked (docs/reliability.md): outputs never clobber what is not a file and never
leave temporaries behind, corrupt input gets one line and exit code 2, sizes are checked
before anything is allocated, divergence stops with exit code 3, and splits are never
empty. The MPI doors (a stalled rank, clean error lines) are in tests/test_mpi.py."""

import gzip
import json
import os
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from oraclenet.common import data
from oraclenet.common.data import DataError
from oraclenet.common.files import TMP_SUFFIX, OutputError, check_output, write_json
from oraclenet.common.params import init_params
from tests.cpp_files import raw_ascii
from tests.idx_files import idx_dir, write_idx

ORACLENET = Path(sys.executable).parent / "oraclenet"


def run(*argv, cwd=None, timeout=300, **kwargs):
    return subprocess.run([str(ORACLENET), *map(str, argv)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, **kwargs)


def one_line(out, code=2) -> str:
    """The command failed with `code` and said so in one line, without a traceback."""
    assert out.returncode == code, (out.returncode, out.stderr[-3000:])
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
    return out.stderr


# --- 1. the writer -----------------------------------------------------------------------------

def test_a_fifo_a_directory_a_socket_and_a_device_are_refused(tmp_path):
    fifo, folder, sock = tmp_path / "fifo", tmp_path / "dir", tmp_path / "sock"
    os.mkfifo(fifo)
    folder.mkdir()
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock))
    try:
        for path, kind in ((fifo, "FIFO"), (folder, "directory"), (sock, "socket"),
                           (Path("/dev/null"), "character device")):
            with pytest.raises(OutputError, match=rf"{path}: exists and is a {kind}"):
                write_json(path, {"x": 1})
            with pytest.raises(OutputError, match=rf"{path}: exists and is a {kind}"):
                check_output(path)
    finally:
        server.close()
    assert stat.S_ISFIFO(fifo.stat().st_mode) and folder.is_dir()


def test_the_json_flag_refuses_dev_full_before_training():
    before = os.stat("/dev/full")
    began = time.monotonic()
    out = run("train", "--json", "/dev/full", "-e", "40")
    assert "/dev/full: exists and is a character device" in one_line(out)
    assert time.monotonic() - began < 30  # refused up front, not after 40 epochs
    after = os.stat("/dev/full")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


def test_a_symbolic_link_to_a_file_is_followed_and_kept_and_a_dangling_one_refused(tmp_path):
    real, link = tmp_path / "real.json", tmp_path / "link.json"
    real.write_text("old")
    link.symlink_to(real)
    write_json(link, {"x": 1})
    assert link.is_symlink() and json.loads(real.read_text()) == {"x": 1}
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "nowhere.json")
    with pytest.raises(OutputError, match=r"dangling.json: a symbolic link to .*nowhere.json, "
                                          r"which does not exist"):
        write_json(dangling, {})


def test_dash_and_dev_stdout_are_written_directly():
    out = run("train", "-e", "1", "-n", "3", "--quiet", "--json", "-")
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout[:out.stdout.rindex("}") + 1])
    assert record["config"]["hidden"] == 3


def test_an_existing_files_mode_is_kept_and_a_new_one_follows_the_umask(tmp_path):
    kept = tmp_path / "kept.json"
    kept.write_text("{}")
    kept.chmod(0o640)
    write_json(kept, {"x": 1})
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    old = os.umask(0o027)
    try:
        write_json(tmp_path / "new.json", {"x": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o640


def test_an_unusable_directory_names_the_target_not_a_temporary_file(tmp_path):
    (tmp_path / "file").write_text("in the way")
    target = tmp_path / "file" / "out.json"
    with pytest.raises(OutputError, match=rf"{target}: .*file is a regular file, not a dir"):
        check_output(target)
    with pytest.raises(OutputError, match=rf"cannot write {target}: ") as caught:
        write_json(target, {})
    assert TMP_SUFFIX not in str(caught.value)
    out = run("train", "--save", target, "-e", "40")
    assert "out.json" in one_line(out)


SLOW_WRITER = """
import sys, time
from oraclenet.common.files import write_atomic
from oraclenet.common.process import exit_on_sigterm
exit_on_sigterm()
def slowly(f):
    f.write(b"partial")
    f.flush()
    print("writing", flush=True)
    time.sleep(60)
write_atomic(sys.argv[1], slowly)
"""


def start_slow_writer(target: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(target)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "writing\n"
    return proc


def temporaries(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"*{TMP_SUFFIX}"))


def test_sigterm_during_a_write_removes_the_temporary_file(tmp_path):
    proc = start_slow_writer(tmp_path / "out.npz")
    assert len(temporaries(tmp_path)) == 1
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    proc.stdout.close()
    assert list(tmp_path.iterdir()) == []


def test_sigkill_leaves_at_most_one_temporary_file_behind(tmp_path):
    for _ in range(3):
        proc = start_slow_writer(tmp_path / "out.npz")
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
        assert len(temporaries(tmp_path)) == 1  # the new writer removed the dead one's
    write_json(tmp_path / "out.npz", {"done": True})
    assert temporaries(tmp_path) == [] and (tmp_path / "out.npz").is_file()


# --- 2. decoders ---------------------------------------------------------------------------------

def test_a_gzip_idx_file_with_a_flipped_byte_is_one_line(tmp_path):
    idx_dir(tmp_path, gz=True)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    out = run("train", "--data", tmp_path, "-e", "1", "-n", "2")
    assert "train-images-idx3-ubyte.gz: cannot read (corrupt gzip stream)" in one_line(out)


@pytest.mark.parametrize(("case", "message"), [
    ("npy in its place", r"a single .npy array, not an .npz"),
    ("not a zip", r"cannot read parameters: File is not a zip file"),
    ("empty", r"an empty file, not parameters"),
    ("int8", r"W1 has dtype int8; parameters are real float32 or float64"),
    ("complex", r"W1 has dtype complex128"),
    ("strings", r"W1 has dtype <U"),
    ("objects", r"p.npz: holds Python objects \(an object array\), not numbers"),
    ("NaN", r"W1 holds 7840 NaN or infinite entries"),
    ("no hidden unit", r"W1 has no row"),
])
def test_every_wrong_npz_is_one_line(tmp_path, case, message):
    path, p = tmp_path / "p.npz", init_params(10)
    blocks = dict(W1=p.W1, b1=p.b1, W2=p.W2, b2=p.b2)
    if case == "npy in its place":
        np.save(tmp_path / "p.npy", p.W1)
        path.write_bytes((tmp_path / "p.npy").read_bytes())
    elif case == "not a zip":
        path.write_bytes(b"PK\x03\x04 and then nothing a zip file holds")
    elif case == "empty":
        path.write_bytes(b"")
    else:
        blocks["W1"] = {"int8": p.W1.astype(np.int8), "complex": p.W1.astype(complex),
                        "strings": np.array(["W1"]), "objects": np.array([None], object),
                        "NaN": np.full_like(p.W1, np.nan),
                        "no hidden unit": np.ones((0, 784))}[case]
        if case == "no hidden unit":
            blocks.update(b1=np.ones((0, 1)), W2=np.ones((10, 0)))
        np.savez(path, **blocks)
    out = run("train", "--init-from", path, "-e", "1", "--data", idx_dir(tmp_path))
    assert "p.npz: " in one_line(out)
    assert __import__("re").search(message, out.stderr), out.stderr


def test_train_starts_from_a_folder_of_armadillo_text_files(tmp_path):
    """--init-from takes what check step takes: here W0 b0 W1 b1 saved as raw_ascii .mat
    files, layers counted from 0 as the course's C++ code does."""
    p = init_params(6, 3)
    folder = tmp_path / "start"
    folder.mkdir()
    for ours, theirs in zip(("W1", "b1", "W2", "b2"), ("W0", "b0", "W1", "b1"), strict=True):
        raw_ascii(folder / f"{theirs}.mat", getattr(p, ours))
    out = run("train", "--init-from", folder, "-e", "1", "--data", idx_dir(tmp_path),
              "--json", tmp_path / "run.json")
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "run.json").read_text())["config"]["hidden"] == 6


# --- 3. sizes, before any allocation ----------------------------------------------------------

def test_an_idx_header_is_checked_against_the_file_before_the_body_is_read(tmp_path):
    idx_dir(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    blob = path.read_bytes()
    path.write_bytes(struct.pack(">IIII", 0x803, 2_000_000_000, 28, 28) + blob[16:])
    with pytest.raises(DataError, match=r"header says dimensions \(2000000000, 28, 28\)"):
        data.read_idx(path)


def test_a_gzip_bomb_is_decompressed_no_further_than_its_header_promises(tmp_path):
    path = tmp_path / "bomb-idx1-ubyte.gz"
    with gzip.open(path, "wb") as f:  # promises 10 labels, holds 50 MB of zeros
        f.write(struct.pack(">II", 0x801, 10))
        for _ in range(50):
            f.write(bytes(1 << 20))
    with pytest.raises(DataError, match=r"header says dimensions \(10,\), i.e. 18 bytes, "
                                        r"but the file holds more than 18"):
        data.read_idx(path)


def test_a_header_promising_more_than_the_memory_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">IIII", 0x803, 4_000_000_000, 28, 28))
    with pytest.raises(DataError, match=r"needs about .* TiB, more than the"):
        data.read_idx(path)


def test_images_of_another_shape_with_784_pixels_are_refused(tmp_path):
    idx_dir(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((30, 16, 49), np.uint8))
    with pytest.raises(DataError, match=r"expected count x 28 x 28 images, got \(30, 16, 49\)"):
        data.load_idx_dir(tmp_path)


def test_one_t10k_file_without_the_other_is_named(tmp_path):
    idx_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte is there but "
                                        r"t10k-labels-idx1-ubyte \(or .*\.gz\) is not"):
        data.load_idx_dir(tmp_path)


@pytest.mark.parametrize("trainer", [["train"], ["gpu", "train"]])
def test_a_network_too_big_for_the_machine_is_one_line(trainer):
    out = run(*trainer, "-n", "1000000000", "-e", "1",
              env=dict(os.environ, NUMBA_ENABLE_CUDASIM="1"))
    assert "-n 1000000000 hidden neurons with -b 32 needs about" in one_line(out)


# --- 4. divergence -----------------------------------------------------------------------------

def test_a_non_finite_loss_stops_training_naming_the_step_with_exit_code_3(tmp_path):
    out = run("train", "-l", "1e6", "-e", "2", "-n", "16", "--quiet", "--json",
              tmp_path / "r.json")
    assert "training diverged at step " in one_line(out, code=3)
    assert "the loss is nan" in out.stderr or "the loss is inf" in out.stderr
    assert not (tmp_path / "r.json").exists()


def test_allow_divergence_goes_on_and_the_record_is_strict_json(tmp_path):
    out = run("train", "-l", "1e6", "-e", "2", "-n", "16", "--quiet", "--allow-divergence",
              "--json", tmp_path / "r.json")
    assert out.returncode == 0, out.stderr

    def refuse(token):
        raise ValueError(f"not JSON: {token}")

    record = json.loads((tmp_path / "r.json").read_text(), parse_constant=refuse)
    assert None in record["train_loss"]  # null: a non-finite loss
    assert record["config"]["allow_divergence"] is True


# --- 5. splits -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("fraction", "empty"), [("0.9999", "training"), ("1e-9", "validation")])
def test_an_empty_split_is_an_error(fraction, empty):
    out = run("train", "--val-fraction", fraction, "-e", "1")
    assert f"leave no {empty} image" in one_line(out)


@pytest.mark.parametrize(("flags", "message"), [
    (["-n", "8"], "-n 8, but --init-from"),
    (["--preset", "course"], "--preset course's H = 1000, but --init-from"),
    (["--init", "course"], "--init draws the starting parameters and --init-from reads them"),
])
def test_init_from_refuses_the_flags_it_would_override(tmp_path, flags, message):
    from oraclenet.common.params import save_params

    save_params(init_params(5, 0), tmp_path / "h5.npz")
    out = run("train", *flags, "--init-from", tmp_path / "h5.npz", "-e", "1")
    assert message in one_line(out)
    assert "--init" in flags or "holds H = 5" in out.stderr


@pytest.mark.parametrize(("argv", "message"), [
    (["--impl", "m.py:step", "--before", "b.npz"], "--before: files of one step, judged "
                                                   "without --impl"),
    (["--before", "b", "--after", "a", "--batch", "x", "--lr", "1", "--sizes", "course"],
     "--sizes: for the cases of --impl; the files are one step"),
])
def test_check_step_refuses_flags_its_source_does_not_read(argv, message):
    assert message in one_line(run("check", "step", *argv))
