"""The audio front end: WAV reading and its errors, framing, the mel filterbank, MFCCs and the
fixed-size pooling, on synthetic signals whose answer is known."""

import numpy as np
import pytest
import scipy.fft
import scipy.io.wavfile

from dmf_numpy.datasets.audio import (AudioFeatures, frame_signal, hz_to_mel, mel_filterbank, mel_to_hz, mfcc,
                             power_spectrum, read_wav, time_pool)
from dmf_numpy.datasets.store import DataError

RATE = 8000


def tone(frequency, seconds=0.5, rate=RATE):
    return np.sin(2 * np.pi * frequency * np.arange(int(seconds * rate)) / rate)


# ---------------------------------------------------------------- reading


def write_wav(path, data, rate=RATE):
    scipy.io.wavfile.write(path, rate, data)
    return path


def test_read_wav_scales_16_bit_pcm(tmp_path):
    pcm = np.array([0, 16384, -32768, 32767], dtype=np.int16)
    signal = read_wav(write_wav(tmp_path / "a.wav", pcm), sample_rate=RATE)
    np.testing.assert_array_equal(signal, [0.0, 0.5, -1.0, 32767 / 32768])


def test_read_wav_rejects_a_wrong_sample_rate(tmp_path):
    path = write_wav(tmp_path / "fast.wav", np.zeros(100, dtype=np.int16), rate=16000)
    with pytest.raises(DataError, match=r"fast\.wav: sample rate 16000 Hz, expected 8000 Hz"):
        read_wav(path, sample_rate=RATE)


@pytest.mark.parametrize("keep", [30, 1000])  # inside the header; inside the data chunk
def test_read_wav_rejects_a_truncated_file(tmp_path, keep):
    whole = write_wav(tmp_path / "whole.wav", (1000 * tone(440)).astype(np.int16)).read_bytes()
    path = tmp_path / "cut.wav"
    path.write_bytes(whole[:keep])
    with pytest.raises(DataError, match=r"cut\.wav: cannot read as a WAV file"):
        read_wav(path, sample_rate=RATE)


def test_read_wav_rejects_corrupt_missing_stereo_and_empty_files(tmp_path):
    (tmp_path / "junk.wav").write_bytes(b"this is not a RIFF file at all")
    with pytest.raises(DataError, match=r"junk\.wav: cannot read as a WAV file"):
        read_wav(tmp_path / "junk.wav", sample_rate=RATE)
    with pytest.raises(DataError, match=r"absent\.wav: cannot read"):
        read_wav(tmp_path / "absent.wav", sample_rate=RATE)
    with pytest.raises(DataError, match=r"stereo\.wav: 2 channels, expected a mono"):
        read_wav(write_wav(tmp_path / "stereo.wav", np.zeros((10, 2), dtype=np.int16)), sample_rate=RATE)
    with pytest.raises(DataError, match=r"empty\.wav: no samples"):
        read_wav(write_wav(tmp_path / "empty.wav", np.zeros(0, dtype=np.int16)), sample_rate=RATE)


# ---------------------------------------------------------------- the front end


def test_frame_signal_cuts_overlapping_frames_and_pads_short_signals():
    frames = frame_signal(np.arange(10), frame_length=4, hop_length=3)
    np.testing.assert_array_equal(frames, [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]])
    np.testing.assert_array_equal(frame_signal(np.array([1, 2]), 4, 1), [[1, 2, 0, 0]])
    with pytest.raises(ValueError, match="signal: expected a 1-D array"):
        frame_signal(np.zeros((2, 5)), 4, 1)


def test_power_spectrum_puts_a_bin_centered_tone_in_its_bin():
    n_fft = 256
    k = 32  # 32 * 8000 / 256 = 1000 Hz, exactly on a bin
    frames = frame_signal(tone(k * RATE / n_fft), n_fft, n_fft)
    power = power_spectrum(frames, n_fft)
    assert power.shape == (frames.shape[0], n_fft // 2 + 1)
    assert (power.argmax(axis=1) == k).all()
    # A Hann window leaks a bin-centered tone into its two neighbours only, at a quarter the amplitude.
    np.testing.assert_allclose(power[:, [k - 1, k + 1]] / power[:, [k]], 1 / 4, rtol=1e-6)
    assert power[:, k + 3:].max() < 1e-12 * power[:, k].min()


def test_mel_scale_round_trip_and_filterbank_shape():
    hz = np.array([0.0, 700.0, 1000.0, 4000.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(hz)), hz, atol=1e-9)
    assert hz_to_mel(700.0) == pytest.approx(2595 * np.log10(2))
    bank = mel_filterbank(20, 256, RATE)
    assert bank.shape == (20, 129) and bank.min() == 0 and bank.max() <= 1
    centers = np.argmax(bank, axis=1)
    assert (np.diff(centers) > 0).all()  # one after the other up the spectrum
    # Between the first and the last filter's peak the triangles overlap into a partition of unity.
    edges = mel_to_hz(np.linspace(0, hz_to_mel(RATE / 2), 20 + 2))
    bins = np.arange(129) * RATE / 256
    inside = (bins >= edges[1]) & (bins <= edges[-2])
    np.testing.assert_allclose(bank.sum(axis=0)[inside], 1.0, rtol=1e-12)


@pytest.mark.parametrize("frequency", [300.0, 1000.0, 2500.0])
def test_a_tone_lands_in_the_mel_band_around_its_frequency(frequency):
    settings = AudioFeatures(n_mfcc=None, n_mels=40, n_segments=1, preemphasis=0.0)
    energies = settings.frames(tone(frequency))  # (T, 40) log mel energies
    edges = mel_to_hz(np.linspace(hz_to_mel(0), hz_to_mel(RATE / 2), 40 + 2))
    # The band of the filter whose peak (center) is nearest the tone.
    expected = np.argmin(np.abs(edges[1:-1] - frequency))
    assert (energies.argmax(axis=1) == expected).all()
    # Far from the tone, the energy is orders of magnitude lower.
    far = np.abs(np.arange(40) - expected) > 4
    assert (energies[:, expected] - energies[:, far].max(axis=1) > np.log(1e3)).all()


def test_mfcc_is_the_orthonormal_dct_of_the_log_energies():
    log_energies = np.random.default_rng(0).normal(size=(5, 8))
    B = 8
    b, q = np.arange(B), np.arange(3)
    basis = np.sqrt((2 - (q == 0)) / B)[:, None] * np.cos(np.pi * q[:, None] * (2 * b + 1) / (2 * B))
    np.testing.assert_allclose(mfcc(log_energies, 3), log_energies @ basis.T, atol=1e-12)
    np.testing.assert_allclose(scipy.fft.idct(mfcc(log_energies, 8), norm="ortho", axis=1), log_energies)
    with pytest.raises(ValueError, match="n_mfcc"):
        mfcc(log_energies, 9)


def test_time_pool_averages_equal_segments_of_any_length():
    frames = np.arange(6.0)[:, None]  # T = 6, one feature equal to the frame index
    np.testing.assert_allclose(time_pool(frames, 3)[:, 0], [0.5, 2.5, 4.5])
    np.testing.assert_allclose(time_pool(frames, 4)[:, 0], [(0 + 0.5 * 1) / 1.5, (0.5 * 1 + 2) / 1.5,
                                                           (3 + 0.5 * 4) / 1.5, (0.5 * 4 + 5) / 1.5])
    np.testing.assert_allclose(time_pool(np.array([[2.0, 7.0]]), 3), [[2, 7]] * 3)  # T < S: repeated
    np.testing.assert_allclose(time_pool(frames, 1)[:, 0], [frames.mean()])


def test_audio_features_have_a_fixed_size_whatever_the_length():
    settings = AudioFeatures()
    short, long = settings(tone(440, seconds=0.05)), settings(tone(440, seconds=2.0))
    assert short.shape == long.shape == (settings.size,) == (200,)
    assert np.isfinite(short).all() and np.isfinite(long).all()
    # A rising sweep: the time course survives the pooling (the first log-mel band's peak moves up).
    t = np.arange(RATE) / RATE
    sweep = np.sin(2 * np.pi * (200 * t + 1500 * t ** 2))  # 200 Hz -> 3200 Hz
    pooled = AudioFeatures(n_mfcc=None, n_segments=5)(sweep).reshape(5, -1)
    assert (np.diff(pooled.argmax(axis=1)) > 0).all()


@pytest.mark.parametrize("signal, message", [
    (np.zeros((800, 2)), r"signal: expected a non-empty 1-D \(mono\) array, got shape \(800, 2\)"),
    (np.zeros(0), r"got shape \(0,\)"),
    (np.full(800, np.nan), "signal: expected finite samples"),
])
def test_audio_features_refuse_stereo_empty_and_nan_signals(signal, message):
    with pytest.raises(ValueError, match=message):
        AudioFeatures()(signal)
