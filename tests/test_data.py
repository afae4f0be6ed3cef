"""Tests of the MNIST data layer: IDX parsing, checksums, finding and downloading the files,
the two half-image modalities, the damage and the train/validation/test splits.

Almost every test writes tiny IDX files of its own and shrinks ``MNIST_FILES`` to match, so
the real data is needed only by the last test. The network is never used: ``_urlopen`` is
replaced in every test, and the user cache is redirected into a temporary folder.
"""

import gzip
import hashlib
import io
import struct
import urllib.error
from dataclasses import replace

import numpy as np
import pytest

from dmf_numpy.datasets import halves, mnist, store
from dmf_numpy.datasets.store import DataError, MissingDataError

from helpers import SHARED_DATA

REAL_MNIST = SHARED_DATA / "mnist"
MNIST_NAMES = [spec.gz_name for spec in mnist.MNIST_FILES.values()]


def sha256(content):
    return hashlib.sha256(content).hexdigest()


def idx_bytes(array, *, type_code=0x08):
    """IDX encoding of a uint8 array: magic, big-endian sizes, data."""
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


class NoNetwork:
    """Stands in for ``store._urlopen``: records the URLs asked for and fails every one."""

    def __init__(self):
        self.urls = []

    def __call__(self, url, timeout):
        self.urls.append(url)
        raise urllib.error.URLError("network disabled in tests")


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No network, no DMF_NUMPY_DATA, and a user cache inside tmp_path."""
    monkeypatch.delenv(store.DATA_ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    no_network = NoNetwork()
    monkeypatch.setattr(store, "_urlopen", no_network)
    return no_network


@pytest.fixture
def fake_mnist(monkeypatch):
    """A tiny stand-in for MNIST: returns ``make(folder, gz=True)`` which writes the four files.

    ``MNIST_FILES`` is patched to the fake files' counts and checksums. Image ``i`` of each set
    is 255 everywhere except pixel (0, 0), which is ``i + 1``; labels are ``i % 10``.
    """
    counts = {"train": 40, "test": 12}
    arrays = {}
    for split, n in counts.items():
        images = np.full((n, 28, 28), 255, dtype=np.uint8)
        images[:, 0, 0] = np.arange(1, n + 1)
        arrays[f"{split}_images"] = images
        arrays[f"{split}_labels"] = (np.arange(n) % 10).astype(np.uint8)
    contents = {}
    for key, spec in mnist.MNIST_FILES.items():
        raw = idx_bytes(arrays[key])
        compressed = gzip.compress(raw)
        contents[spec.gz_name] = compressed
        contents[spec.raw_name] = raw
        monkeypatch.setitem(
            mnist.MNIST_FILES,
            key,
            replace(spec, gz_sha256=sha256(compressed), raw_sha256=sha256(raw),
                    count=len(arrays[key])),
        )

    def make(folder, gz=True):
        folder.mkdir(parents=True, exist_ok=True)
        for spec in mnist.MNIST_FILES.values():
            name = spec.gz_name if gz else spec.raw_name
            (folder / name).write_bytes(contents[name])
        return arrays

    make.arrays = arrays
    make.contents = contents
    return make


# --------------------------------------------------------------------------------------------
# read_idx
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, compress",
    [("a-idx3-ubyte.gz", True), ("a-idx3-ubyte", False), ("gzip-without-suffix", True)],
)
def test_read_idx_round_trip(tmp_path, name, compress):
    array = np.random.default_rng(0).integers(0, 256, size=(5, 3, 4), dtype=np.uint8)
    raw = idx_bytes(array)
    path = tmp_path / name
    path.write_bytes(gzip.compress(raw) if compress else raw)
    result = mnist.read_idx(path)
    assert result.dtype == np.uint8 and result.shape == (5, 3, 4)
    np.testing.assert_array_equal(result, array)
    result[0, 0, 0] = 1  # an ordinary, writable array


def test_read_idx_one_dimensional(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.arange(7, dtype=np.uint8)))
    np.testing.assert_array_equal(mnist.read_idx(path), np.arange(7))


GOOD = idx_bytes(np.zeros((4, 2, 2), dtype=np.uint8))  # header 16 bytes + 16 bytes of data


@pytest.mark.parametrize(
    "content, problem",
    [
        (GOOD[:-1], "truncated: header says 4x2x2 = 16 bytes of data, file has 15"),
        (GOOD + b"\x00\x00", "2 trailing bytes: header says 4x2x2 = 16 bytes of data, file has 18"),
        (GOOD[:10], "truncated header"),
        (GOOD[:2], "truncated"),
        (b"\x01" + GOOD[1:], "bad magic number"),
        (GOOD[:2] + b"\x42" + GOOD[3:], "bad magic number"),
        (GOOD[:3] + b"\x00" + GOOD[4:], "bad magic number"),
        (idx_bytes(np.zeros(4, dtype=np.uint8), type_code=0x0D), "unsupported IDX data type 0x0d"),
    ],
)
def test_read_idx_rejects_bad_content(tmp_path, content, problem):
    path = tmp_path / "bad-idx"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        mnist.read_idx(path)
    assert str(path) in str(info.value)
    assert problem in str(info.value)


@pytest.mark.parametrize(
    "content",
    [
        gzip.compress(GOOD)[:-12],  # cut short
        gzip.compress(GOOD)[:10] + b"\xff" * 20,  # deflate stream destroyed
        GOOD,  # named .gz but not compressed
    ],
)
def test_read_idx_rejects_corrupt_gzip(tmp_path, content):
    path = tmp_path / "bad.gz"
    path.write_bytes(content)
    with pytest.raises(DataError, match="corrupt gzip") as info:
        mnist.read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        mnist.read_idx(tmp_path / "nothing-here")


# --------------------------------------------------------------------------------------------
# load_mnist: checks
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_reads_compressed_or_raw_files(tmp_path, fake_mnist, gz):
    arrays = fake_mnist(tmp_path / "mnist", gz=gz)
    loaded = mnist.load_mnist(tmp_path / "mnist")
    assert set(loaded) == {"train_images", "train_labels", "test_images", "test_labels"}
    for key, array in arrays.items():
        assert loaded[key].dtype == np.uint8
        np.testing.assert_array_equal(loaded[key], array)


def test_load_mnist_checksum_mismatch(tmp_path, fake_mnist, monkeypatch):
    fake_mnist(tmp_path)
    spec = mnist.MNIST_FILES["test_labels"]
    monkeypatch.setitem(mnist.MNIST_FILES, "test_labels", replace(spec, gz_sha256="0" * 64))
    with pytest.raises(DataError) as info:
        mnist.load_mnist(tmp_path)
    message = str(info.value)
    assert str(tmp_path / spec.gz_name) in message
    assert "0" * 64 in message and spec.gz_sha256 in message
    assert not isinstance(info.value, MissingDataError)
    mnist.load_mnist(tmp_path, verify=False)  # the content itself is fine


def test_load_mnist_checksum_mismatch_of_a_replaced_file(tmp_path, fake_mnist):
    fake_mnist(tmp_path)
    path = tmp_path / mnist.MNIST_FILES["train_labels"].gz_name
    path.write_bytes(gzip.compress(idx_bytes(np.ones(40, dtype=np.uint8))))
    with pytest.raises(DataError, match="checksum mismatch") as info:
        mnist.load_mnist(tmp_path)
    assert str(path) in str(info.value)


def test_load_mnist_wrong_kind_of_file(tmp_path, fake_mnist):
    fake_mnist(tmp_path)
    labels = tmp_path / mnist.MNIST_FILES["train_labels"].gz_name
    images = tmp_path / mnist.MNIST_FILES["train_images"].gz_name
    images.write_bytes(labels.read_bytes())
    with pytest.raises(DataError) as info:
        mnist.load_mnist(tmp_path, verify=False)
    assert f"{images}: bad magic number 2049, expected 2051 (images, 3-D)" in str(info.value)


def test_load_mnist_wrong_count_and_bad_labels(tmp_path, fake_mnist):
    fake_mnist(tmp_path)
    path = tmp_path / mnist.MNIST_FILES["test_labels"].gz_name
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(11, dtype=np.uint8))))
    with pytest.raises(DataError, match=r"shape \(11,\), expected \(12,\)"):
        mnist.load_mnist(tmp_path, verify=False)
    path.write_bytes(gzip.compress(idx_bytes(np.full(12, 10, dtype=np.uint8))))
    with pytest.raises(DataError, match="label 10 out of range"):
        mnist.load_mnist(tmp_path, verify=False)


# --------------------------------------------------------------------------------------------
# Where the data is looked for
# --------------------------------------------------------------------------------------------


def test_resolution_order(tmp_path, monkeypatch):
    explicit, from_env = tmp_path / "explicit", tmp_path / "env"
    explicit.mkdir()
    from_env.mkdir()
    monkeypatch.setenv(store.DATA_ENV_VAR, str(from_env))
    assert store.resolve_data_dir("mnist", explicit)[:2] == (explicit, "argument")
    assert store.resolve_data_dir("mnist")[:2] == (from_env, "environment")
    monkeypatch.setenv(store.DATA_ENV_VAR, "")
    cache = tmp_path / "xdg-cache" / "dmf_numpy" / "mnist"
    assert store.resolve_data_dir("mnist")[:2] == (cache, "cache")
    assert store.cache_dir("mnist") == cache
    assert not store.resolve_data_dir("mnist").explicit


def test_cache_dir_without_xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for value in (None, "", "relative/path"):
        if value is None:
            monkeypatch.delenv("XDG_CACHE_HOME")
        else:
            monkeypatch.setenv("XDG_CACHE_HOME", value)
        assert store.cache_dir("wiki") == tmp_path / ".cache" / "dmf_numpy" / "wiki"


def test_root_or_dataset_folder(tmp_path, monkeypatch):
    (tmp_path / "root" / "mnist").mkdir(parents=True)
    (tmp_path / "root" / "mnist" / "train-labels-idx1-ubyte.gz").write_bytes(b"")
    (tmp_path / "direct").mkdir()
    assert store.resolve_data_dir("mnist", tmp_path / "root").path == tmp_path / "root" / "mnist"
    assert store.resolve_data_dir("mnist", tmp_path / "direct").path == tmp_path / "direct"
    monkeypatch.setenv(store.DATA_ENV_VAR, str(tmp_path / "root"))
    assert store.resolve_data_dir("mnist").path == tmp_path / "root" / "mnist"


def test_load_mnist_from_env_root_and_from_explicit_folder(tmp_path, fake_mnist, monkeypatch):
    arrays = fake_mnist(tmp_path / "shared" / "mnist")
    monkeypatch.setenv(store.DATA_ENV_VAR, str(tmp_path / "shared"))
    np.testing.assert_array_equal(mnist.load_mnist()["test_labels"], arrays["test_labels"])
    monkeypatch.setenv(store.DATA_ENV_VAR, str(tmp_path / "elsewhere"))  # the argument wins
    loaded = mnist.load_mnist(tmp_path / "shared" / "mnist")
    np.testing.assert_array_equal(loaded["train_images"], arrays["train_images"])


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_nonexistent_given_directory(tmp_path, monkeypatch, fake_mnist, isolated, how):
    fake_mnist(store.cache_dir("mnist"))  # a valid cache must not be fallen back to
    missing = tmp_path / "no-such-dir"
    if how == "environment":
        monkeypatch.setenv(store.DATA_ENV_VAR, str(missing))
    with pytest.raises(MissingDataError) as info:
        mnist.load_mnist(missing if how == "argument" else None)
    assert str(missing) in str(info.value)
    assert "--data-dir" in str(info.value) and store.DATA_ENV_VAR in str(info.value)
    assert isolated.urls == []


def test_given_directory_without_files_is_not_downloaded_into(tmp_path, isolated):
    with pytest.raises(MissingDataError) as info:
        mnist.load_mnist(tmp_path)
    message = str(info.value)
    assert all(name in message for name in MNIST_NAMES)
    assert str(tmp_path) in message and "Not downloading" in message
    assert isolated.urls == []


# --------------------------------------------------------------------------------------------
# Downloading
# --------------------------------------------------------------------------------------------


class FakeResponse(io.BytesIO):
    """A response; if ``interrupted``, the connection drops after the first half of the bytes."""

    def __init__(self, content, interrupted=False):
        super().__init__(content)
        self.headers = {"Content-Length": str(len(content))}
        self.cut = len(content) // 2 if interrupted else None

    def read(self, size=-1):
        if self.cut is None:
            return super().read(size)
        if self.tell() >= self.cut:
            raise ConnectionResetError("connection reset by peer")
        left = self.cut - self.tell()
        return super().read(left if size < 0 else min(size, left))


class FakeServer:
    """Stands in for ``store._urlopen``, serving ``files`` (name -> bytes) from every mirror."""

    def __init__(self, files, interrupted=False, down=()):
        self.files, self.interrupted, self.down = files, interrupted, down
        self.urls = []

    def __call__(self, url, timeout):
        self.urls.append(url)
        if any(url.startswith(mirror) for mirror in self.down):
            raise urllib.error.URLError("mirror down")
        name = url.rsplit("/", 1)[1]
        if name not in self.files:
            raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)
        return FakeResponse(self.files[name], self.interrupted)


def test_download_into_cache(fake_mnist, monkeypatch, capsys):
    server = FakeServer(fake_mnist.contents, down=mnist.MNIST_MIRRORS[:1])
    monkeypatch.setattr(store, "_urlopen", server)
    loaded = mnist.load_mnist()
    for key, array in fake_mnist.arrays.items():
        np.testing.assert_array_equal(loaded[key], array)
    cache = store.cache_dir("mnist")
    assert sorted(p.name for p in cache.iterdir()) == sorted(MNIST_NAMES)
    assert all(url.startswith(mnist.MNIST_MIRRORS[1]) for url in server.urls[1::2])
    assert "downloading" in capsys.readouterr().err
    server.urls.clear()
    mnist.load_mnist()  # now found in the cache: no second download
    assert server.urls == []


def test_download_only_the_missing_files(fake_mnist, monkeypatch):
    fake_mnist(store.cache_dir("mnist"))
    store.cache_dir("mnist").joinpath(mnist.MNIST_FILES["test_images"].gz_name).unlink()
    server = FakeServer(fake_mnist.contents)
    monkeypatch.setattr(store, "_urlopen", server)
    mnist.load_mnist()
    assert server.urls == [mnist.MNIST_MIRRORS[0] + mnist.MNIST_FILES["test_images"].gz_name]


@pytest.mark.parametrize("failure", ["interrupted", "checksum"])
def test_failed_download_leaves_nothing(fake_mnist, monkeypatch, failure):
    files = dict(fake_mnist.contents)
    if failure == "checksum":
        files = {name: content + b"tampered" for name, content in files.items()}
    server = FakeServer(files, interrupted=failure == "interrupted")
    monkeypatch.setattr(store, "_urlopen", server)
    with pytest.raises(MissingDataError) as info:
        mnist.load_mnist()
    expected = "connection reset" if failure == "interrupted" else "checksum mismatch"
    assert expected in str(info.value)
    assert len(server.urls) == len(mnist.MNIST_MIRRORS)  # every mirror tried, then given up
    assert list(store.cache_dir("mnist").iterdir()) == []  # no file, no temporary file


def test_download_file_is_atomic(tmp_path, monkeypatch):
    content = b"x" * 1000
    monkeypatch.setattr(store, "_urlopen", FakeServer({"f": content}, interrupted=True))
    with pytest.raises(ConnectionResetError):
        store.download_file("https://mirror/f", tmp_path / "f", sha256(content), chunk_size=100)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(store, "_urlopen", FakeServer({"f": content}))
    with pytest.raises(DataError, match=f"expected SHA-256 {'1' * 64}, got {sha256(content)}"):
        store.download_file("https://mirror/f", tmp_path / "f", "1" * 64, chunk_size=100)
    assert list(tmp_path.iterdir()) == []
    store.download_file("https://mirror/f", tmp_path / "f", sha256(content), chunk_size=100)
    assert [p.name for p in tmp_path.iterdir()] == ["f"]
    assert (tmp_path / "f").read_bytes() == content


def test_no_network_and_no_data(isolated):
    with pytest.raises(MissingDataError) as info:
        mnist.load_mnist()
    message = str(info.value)
    assert all(name in message for name in MNIST_NAMES)
    assert str(store.cache_dir("mnist")) in message
    assert "--data-dir" in message and store.DATA_ENV_VAR in message
    assert "network disabled in tests" in message
    assert isolated.urls  # a download was attempted


def test_download_false(isolated):
    with pytest.raises(MissingDataError, match="download=False"):
        mnist.load_mnist(download=False)
    assert isolated.urls == []


# --------------------------------------------------------------------------------------------
# The two modalities
# --------------------------------------------------------------------------------------------


def test_split_halves_columns():
    rows, cols = np.indices((28, 28))
    images = np.stack([9 * cols, 9 * rows, np.full((28, 28), 255)]).astype(np.uint8)
    left, right = halves.split_halves(images)
    for half in (left, right):
        assert half.shape == (3, 392) and half.dtype == np.float32
        assert half.flags.c_contiguous
        assert half.min() >= 0 and half.max() <= 1
    # Image 0 holds its column index: left sees columns 0..13, right 14..27, in every row.
    left_columns = np.tile(np.arange(14), (28, 1))
    right_columns = np.tile(np.arange(14, 28), (28, 1))
    np.testing.assert_allclose(left[0].reshape(28, 14) * 255 / 9, left_columns)
    np.testing.assert_allclose(right[0].reshape(28, 14) * 255 / 9, right_columns)
    # Image 1 holds its row index: each half is flattened row by row.
    np.testing.assert_allclose(left[1] * 255 / 9, np.repeat(np.arange(28), 14))
    np.testing.assert_allclose(right[1] * 255 / 9, np.repeat(np.arange(28), 14))
    assert (left[2] == 1).all() and (right[2] == 1).all()


@pytest.mark.parametrize(
    "images",
    [
        np.zeros((2, 28, 27), np.uint8),
        np.zeros((28, 28), np.uint8),
        np.zeros((2, 28, 28), np.float32),
    ],
)
def test_split_halves_rejects_bad_images(images):
    with pytest.raises(ValueError, match="images"):
        halves.split_halves(images)


# --------------------------------------------------------------------------------------------
# Damage
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 0.7])
def test_damage_pixels_exact_count(p):
    right = np.ones((50, 392), dtype=np.float32)
    damaged = halves.damage(right, p, seed=1)
    assert damaged.dtype == np.float32 and damaged.shape == right.shape
    np.testing.assert_array_equal((damaged == 0).sum(axis=1), round(p * 392))
    assert (right == 1).all()  # the input is not modified


def test_damage_keeps_the_undamaged_pixels():
    right = np.random.default_rng(0).uniform(0.1, 1, size=(20, 392)).astype(np.float32)
    damaged = halves.damage(right, 0.5, seed=3)
    kept = damaged != 0
    np.testing.assert_array_equal(damaged[kept], right[kept])


def test_damage_columns():
    right = np.ones((30, 392), dtype=np.float32)
    damaged = halves.damage(right, 0.5, kind="columns", seed=2).reshape(30, 28, 14)
    column_zero = (damaged == 0).all(axis=1)  # (30, 14)
    column_one = (damaged == 1).all(axis=1)
    assert (column_zero | column_one).all()  # whole columns, nothing in between
    np.testing.assert_array_equal(column_zero.sum(axis=1), 7)
    assert len({tuple(row) for row in column_zero}) > 1  # each image its own columns


def test_damage_noise():
    right = np.full((200, 392), 0.5, dtype=np.float32)
    damaged = halves.damage(right, 0.2, kind="noise", seed=0)
    assert damaged.dtype == np.float32
    assert damaged.min() >= 0 and damaged.max() <= 1
    assert 0.18 < (damaged - right).std() < 0.21
    np.testing.assert_array_equal(halves.damage(right, 0.0, kind="noise"), right)


@pytest.mark.parametrize("kind", halves.DAMAGE_KINDS)
def test_damage_is_seeded(kind):
    right = np.ones((10, 392), dtype=np.float32) * 0.5
    first = halves.damage(right, 0.5, kind=kind, seed=7)
    np.testing.assert_array_equal(first, halves.damage(right, 0.5, kind=kind, seed=7))
    np.testing.assert_array_equal(
        first, halves.damage(right, 0.5, kind=kind, seed=np.random.default_rng(7))
    )
    assert not np.array_equal(first, halves.damage(right, 0.5, kind=kind, seed=8))


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, float("nan")])
def test_damage_rejects_bad_level(p):
    with pytest.raises(ValueError, match=r"p: expected a fraction in \[0, 1\)"):
        halves.damage(np.ones((2, 392), np.float32), p)


def test_damage_rejects_bad_kind_and_shape():
    with pytest.raises(ValueError, match="kind: expected one of \\['pixels', 'columns', 'noise'\\]"):
        halves.damage(np.ones((2, 392), np.float32), 0.3, kind="blur")
    with pytest.raises(ValueError, match="right"):
        halves.damage(np.ones((2, 28, 14), np.float32), 0.3)


# --------------------------------------------------------------------------------------------
# Test conditions
# --------------------------------------------------------------------------------------------


def test_apply_condition():
    left, right = np.full((3, 392), 0.25, np.float32), np.full((3, 392), 0.75, np.float32)
    x, y = halves.apply_condition(left, right, "left+right")
    assert x is left and y is right
    x, y = halves.apply_condition(left, right, "right")
    assert (x == 0).all() and x.shape == left.shape and x.dtype == left.dtype and y is right
    x, y = halves.apply_condition(left, right, "left")
    assert x is left and (y == 0).all() and y.shape == right.shape
    assert (left == 0.25).all() and (right == 0.75).all()
    assert halves.CONDITIONS == ("left+right", "right", "left")
    with pytest.raises(ValueError, match="left\\+right, right, left"):
        halves.apply_condition(left, right, "both")


# --------------------------------------------------------------------------------------------
# load_halves
# --------------------------------------------------------------------------------------------


def image_ids(left):
    """The fake images' indices, read back from pixel (0, 0) of the left half."""
    return np.rint(left[:, 0] * 255).astype(int) - 1


def test_load_halves_splits(tmp_path, fake_mnist):
    fake_mnist(tmp_path)
    splits = halves.load_halves(tmp_path, n_val=15, damage_p=0.5, seed=3)
    (tl, tr, ty), (vl, vr, vy), (sl, sr, sy) = splits.train, splits.val, splits.test
    assert len(tl) == len(tr) == len(ty) == 25
    assert len(vl) == len(vr) == len(vy) == 15
    assert len(sl) == len(sr) == len(sy) == 12
    for left, right, labels in (splits.train, splits.val, splits.test):
        assert left.shape[1] == right.shape[1] == 392
        assert left.dtype == right.dtype == np.float32
        assert labels.dtype == np.int64 and labels.min() >= 0 and labels.max() <= 9
        np.testing.assert_array_equal(labels, image_ids(left) % 10)  # images and labels agree
        np.testing.assert_array_equal((right == 0).sum(axis=1), 196)  # right damaged...
        assert (left[:, 1:] == 1).all()  # ...and left not at all
    train_ids, val_ids = image_ids(tl), image_ids(vl)
    assert not set(train_ids) & set(val_ids)
    assert sorted([*train_ids, *val_ids]) == list(range(40))
    assert sorted(image_ids(sl)) == list(range(12))
    assert list(train_ids) != sorted(train_ids)  # shuffled


def test_load_halves_seed_and_subset(tmp_path, fake_mnist):
    fake_mnist(tmp_path)
    full = halves.load_halves(tmp_path, n_val=10, damage_p=0.3, seed=5)
    again = halves.load_halves(tmp_path, n_val=10, damage_p=0.3, seed=5)
    other = halves.load_halves(tmp_path, n_val=10, damage_p=0.3, seed=6)
    small = halves.load_halves(tmp_path, n_val=10, damage_p=0.3, seed=5, subset=4)
    for split in ("train", "val", "test"):
        for a, b in zip(getattr(full, split), getattr(again, split)):
            np.testing.assert_array_equal(a, b)
        # The subset is the first samples of the same shuffled split (damaged on its own).
        small_left, small_right, small_labels = getattr(small, split)
        assert small_left.shape == small_right.shape == (4, 392) and small_labels.shape == (4,)
        np.testing.assert_array_equal(small_left, getattr(full, split)[0][:4])
        np.testing.assert_array_equal(small_labels, getattr(full, split)[2][:4])
    assert not np.array_equal(full.train[2], other.train[2])
    # The three splits are damaged by different random streams.
    masks = [getattr(full, split)[1][:10] == 0 for split in ("train", "val", "test")]
    assert not np.array_equal(masks[0], masks[1]) and not np.array_equal(masks[1], masks[2])


def test_load_halves_undamaged_and_empty_validation(tmp_path, fake_mnist):
    fake_mnist(tmp_path)
    splits = halves.load_halves(tmp_path, n_val=0)
    assert len(splits.train[0]) == 40 and splits.val[0].shape == (0, 392)
    assert (splits.train[1] == 1).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_val": -1}, "n_val"),
        ({"n_val": 40}, "n_val"),
        ({"n_val": 10, "subset": 0}, "subset"),
        ({"n_val": 10, "damage_p": 1.0}, "damage_p: expected a fraction"),
        ({"n_val": 10, "damage_kind": "blur"}, "damage_kind: expected one of"),
    ],
)
def test_load_halves_rejects_bad_arguments(tmp_path, fake_mnist, kwargs, match):
    fake_mnist(tmp_path)
    halves.load_halves(tmp_path, n_val=10)  # valid, so the errors below are the arguments'
    with pytest.raises(ValueError, match=match):
        halves.load_halves(tmp_path, **kwargs)


@pytest.mark.slow  # reads and splits all 70,000 images: 2 s
@pytest.mark.skipif(
    not (REAL_MNIST / "train-images-idx3-ubyte.gz").is_file(),
    reason=f"the real MNIST files are absent (looked in {REAL_MNIST})",
)
def test_load_halves_real_mnist():
    splits = halves.load_halves(REAL_MNIST, damage_p=0.3, seed=0)
    (tl, tr, ty), (vl, vr, vy), (sl, sr, sy) = splits.train, splits.val, splits.test
    assert tl.shape == tr.shape == (50000, 392) and ty.shape == (50000,)
    assert vl.shape == vr.shape == (10000, 392) and vy.shape == (10000,)
    assert sl.shape == sr.shape == (10000, 392) and sy.shape == (10000,)
    assert ty.dtype == vy.dtype == sy.dtype == np.int64
    # train + val is a partition of the 60,000 training images: their label histograms add up
    # to the known one (SOURCE.md), and the test histogram is the known test one.
    train_hist = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    test_hist = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert (np.bincount(ty, minlength=10) + np.bincount(vy, minlength=10)).tolist() == train_hist
    assert np.bincount(sy, minlength=10).tolist() == test_hist
    for right in (tr, vr, sr):  # at least round(0.3 * 392) = 118 zeros in every right half
        assert (right == 0).sum(axis=1).min() >= 118
    small = halves.load_halves(REAL_MNIST, subset=100)
    assert [len(split[0]) for split in (small.train, small.val, small.test)] == [100, 100, 100]
