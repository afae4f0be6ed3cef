"""The FSDD loader: where it looks, what it reads from the file names, and its errors, on small
folders of synthetic WAV files; then the real recordings when they are present."""


import numpy as np
import pytest
import scipy.io.wavfile

from dmf_numpy.datasets import store
from dmf_numpy.datasets.store import DataError, MissingDataError
from dmf_numpy.datasets.fsdd import N_FILES, SPEAKERS, load_fsdd

from helpers import SHARED_DATA as SHARED

HAVE_FSDD = (SHARED / "fsdd" / "recordings").is_dir()


def make_recordings(folder, names, rate=8000):
    """Write one short 16-bit WAV per name; the samples encode the name's position."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        scipy.io.wavfile.write(folder / name, rate, np.full(50 + i, 100 * (i + 1), dtype=np.int16))
    return folder


def test_reads_signals_and_labels_from_a_root_holding_fsdd_recordings(tmp_path):
    names = ["3_theo_12.wav", "0_george_0.wav", "9_yweweler_49.wav"]
    make_recordings(tmp_path / "fsdd" / "recordings", names)
    fsdd = load_fsdd(tmp_path, verify=False)
    # Name order: 0_george_0, 3_theo_12, 9_yweweler_49 (written 2nd, 1st, 3rd).
    np.testing.assert_array_equal(fsdd.digits, [0, 3, 9])
    np.testing.assert_array_equal(fsdd.speakers, ["george", "theo", "yweweler"])
    np.testing.assert_array_equal(fsdd.takes, [0, 12, 49])
    assert [len(s) for s in fsdd.signals] == [51, 50, 52]
    np.testing.assert_allclose(fsdd.signals[0], 200 / 32768)
    assert fsdd.folder == tmp_path / "fsdd" / "recordings"


def test_the_environment_variable_and_a_flat_folder_work(tmp_path, monkeypatch):
    make_recordings(tmp_path / "flat", ["5_lucas_1.wav"])
    monkeypatch.setenv(store.DATA_ENV_VAR, str(tmp_path / "flat"))
    assert load_fsdd(verify=False).digits.tolist() == [5]


def test_missing_folder_or_files_say_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(MissingDataError, match="is not an existing directory"):
        load_fsdd(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingDataError, match="(?s)fsdd data not found.*free-spoken-digit-dataset"):
        load_fsdd(tmp_path / "empty")
    monkeypatch.delenv(store.DATA_ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(MissingDataError, match="cache"):
        load_fsdd()


def test_bad_files_are_named(tmp_path):
    folder = make_recordings(tmp_path / "a", ["1_theo_0.wav", "one_theo_0.wav"])
    with pytest.raises(DataError, match=r"one_theo_0\.wav: file name not of the form"):
        load_fsdd(folder, verify=False)
    folder = make_recordings(tmp_path / "b", ["1_theo_0.wav"], rate=16000)
    with pytest.raises(DataError, match=r"1_theo_0\.wav: sample rate 16000 Hz, expected 8000 Hz"):
        load_fsdd(folder, verify=False)
    folder = make_recordings(tmp_path / "c", ["1_theo_0.wav", "2_theo_0.wav"])
    (folder / "2_theo_0.wav").write_bytes((folder / "2_theo_0.wav").read_bytes()[:60])
    for verify in (False, True):  # a damaged file is named before any count or checksum
        with pytest.raises(DataError, match=r"2_theo_0\.wav: cannot read as a WAV file"):
            load_fsdd(folder, verify=verify)


@pytest.mark.slow
def test_an_incomplete_or_altered_set_names_what_is_wrong(tmp_path):
    folder = tmp_path / "all"
    folder.mkdir()
    for name in [f"{d}_{s}_{t}.wav" for d in range(10) for s in SPEAKERS for t in range(50)]:
        scipy.io.wavfile.write(folder / name, 8000, np.ones(20, dtype=np.int16))
    (folder / "3_theo_7.wav").rename(folder / "3_theo_50.wav")
    with pytest.raises(DataError, match=rf"{N_FILES} WAV files, expected the {N_FILES} of the FSDD: "
                                        r"missing 3_theo_7\.wav; not in the FSDD 3_theo_50\.wav"):
        load_fsdd(folder)
    (folder / "3_theo_50.wav").rename(folder / "3_theo_7.wav")
    with pytest.raises(DataError, match="checksum mismatch.*cannot tell which"):
        load_fsdd(folder)  # every canonical name, none with the canonical content


@pytest.mark.slow  # reads all 3,000 recordings
@pytest.mark.skipif(not HAVE_FSDD, reason=f"the FSDD recordings are absent (looked in {SHARED / 'fsdd'})")
def test_the_real_recordings_pass_their_checksum():
    fsdd = load_fsdd(SHARED)
    assert len(fsdd.signals) == N_FILES and tuple(np.unique(fsdd.speakers)) == SPEAKERS
    assert np.bincount(fsdd.digits).tolist() == [300] * 10 and fsdd.takes.max() == 49
    assert all(s.dtype == np.float64 and np.abs(s).max() <= 1 for s in fsdd.signals)
