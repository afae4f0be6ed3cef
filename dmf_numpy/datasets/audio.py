r"""Reading WAV files and turning speech into fixed-size log-mel / MFCC feature vectors.

The audio modality of the audio-visual experiment (:mod:`dmf_numpy.experiments.audiovisual`) is a short
spoken digit, 8 kHz mono, 0.1 to 2.3 s long. A fusion network needs one vector of fixed size
per clip, computed here in the classic speech front end, every step a NumPy array operation:

1. **Read** (:func:`read_wav`): ``scipy.io.wavfile``, integer PCM scaled to [-1, 1).
2. **Pre-emphasis**: x'_n = x_n - α x_{n-1} (α = 0.97), a first-order
   high-pass that balances the spectral tilt of voiced speech.
3. **Framing** (:func:`frame_signal`): overlapping frames of 25 ms every 10 ms (200 and 80
   samples at 8 kHz), as a strided view of the signal (no copy, no loop).
4. **Power spectrum** (:func:`power_spectrum`): each frame times a Hann window, zero-padded to
   ``n_fft = 256`` points, P_{t,k} = |rfft(w ⊙ x_t)_k|^2 / n_fft.
5. **Mel filterbank** (:func:`mel_filterbank`): ``n_mels`` triangular filters equally spaced
   on the mel scale from 0 Hz to the Nyquist frequency; all frames at once as one matrix
   product E = P F^T, then log(E + ε) (:func:`log_mel`).
6. **DCT** (:func:`mfcc`, optional): the type-II orthonormal DCT of each log-mel frame, of which
   the first ``n_mfcc`` coefficients are kept (the cepstrum).
7. **Fixed size** (:func:`time_pool`): the T frames, T depending on the clip's length, are
   averaged over ``n_segments`` equal segments of the clip's duration, so that every clip gives
   ``n_segments x n_coefficients`` numbers whatever its length, and the coarse time course of
   the word is kept (the average over the whole clip would lose it).

:class:`AudioFeatures` bundles the settings and applies steps 2-7 to one signal.
"""

from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.io.wavfile

from ..core.errors import UserError
from .store import DataError

LOG_FLOOR = 1e-10
"""The ε of log(E + ε): keeps silent frames finite."""


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def read_wav(path, *, sample_rate):
    """Read a mono WAV file as floats in [-1, 1).

    Parameters
    ----------
    path : str or os.PathLike
    sample_rate : int
        The rate the file must have, in Hz.

    Returns
    -------
    ndarray of float64, (n_samples,)
        Integer PCM divided by its full scale (2^15 for 16-bit; 8-bit unsigned PCM is
        centered first); float WAV data as stored.

    Raises
    ------
    DataError
        Naming the file, if it cannot be read or parsed (missing, truncated, not a WAV file;
        anything ``scipy.io.wavfile`` warns about counts as unreadable), has another sample
        rate, more than one channel, or no samples.
    """
    try:
        with warnings.catch_warnings():
            # scipy only warns about a data chunk cut short and returns what it could read.
            warnings.simplefilter("error", scipy.io.wavfile.WavFileWarning)
            rate, data = scipy.io.wavfile.read(path)
    except (OSError, ValueError, EOFError, ZeroDivisionError, struct.error, scipy.io.wavfile.WavFileWarning) as err:
        raise DataError(f"{path}: cannot read as a WAV file: {err}") from err
    if rate != sample_rate:
        raise DataError(f"{path}: sample rate {rate} Hz, expected {sample_rate} Hz")
    if data.ndim != 1:
        raise DataError(f"{path}: {data.shape[1]} channels, expected a mono recording")
    if data.size == 0:
        raise DataError(f"{path}: no samples")
    if data.dtype == np.uint8:
        return (data.astype(np.float64) - 128) / 128
    if np.issubdtype(data.dtype, np.integer):
        return data / float(-np.iinfo(data.dtype).min)
    return data.astype(np.float64)


# --------------------------------------------------------------------------------------------
# The spectral front end
# --------------------------------------------------------------------------------------------


def frame_signal(signal, frame_length, hop_length):
    """Cut a signal into overlapping frames.

    Parameters
    ----------
    signal : ndarray, (n,)
    frame_length, hop_length : int
        Samples per frame and between the starts of consecutive frames.

    Returns
    -------
    ndarray, (T, frame_length)
        Frame t is ``signal[t * hop_length : t * hop_length + frame_length]``, for
        T = 1 + ⌊(n - frame_length) / hop_length⌋
        frames; a signal shorter than one frame is zero-padded to one frame. A read-only
        strided view of the signal when no padding is needed.

    Raises
    ------
    UserError
        If ``signal`` is not 1-D or the lengths are not positive.
    """
    signal = np.asarray(signal)
    if signal.ndim != 1:
        raise UserError(f"signal: expected a 1-D array, got shape {signal.shape}")
    if frame_length < 1 or hop_length < 1:
        raise UserError(f"frame_length and hop_length: expected positive integers, "
                        f"got {frame_length} and {hop_length}")
    if signal.size < frame_length:
        signal = np.pad(signal, (0, frame_length - signal.size))
    return np.lib.stride_tricks.sliding_window_view(signal, frame_length)[::hop_length]


def power_spectrum(frames, n_fft):
    r"""Power spectrum of Hann-windowed frames.

    Parameters
    ----------
    frames : ndarray, (T, frame_length)
        ``frame_length <= n_fft``; frames are zero-padded to ``n_fft``.
    n_fft : int

    Returns
    -------
    ndarray, (T, n_fft // 2 + 1)
        P_{t,k} = (1/n_fft) | Σ_j w_j x_{t,j} e^{-2π i jk/n_fft} |^2
        for the frequencies k · sample_rate / n_fft, k = 0 .. n_fft/2.
        w is the periodic Hann window w_j = sin²(π j / frame_length).
    """
    frame_length = frames.shape[1]
    if frame_length > n_fft:
        raise UserError(f"n_fft: expected at least the frame length {frame_length}, got {n_fft}")
    window = np.sin(np.pi * np.arange(frame_length) / frame_length) ** 2
    return np.abs(scipy.fft.rfft(frames * window, n=n_fft, axis=1)) ** 2 / n_fft


def hz_to_mel(hz):
    r"""The mel scale (HTK formula): m = 2595 log_10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel):
    r"""The inverse of :func:`hz_to_mel`: f = 700 (10^{m / 2595} - 1)."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels, n_fft, sample_rate, *, fmin=0.0, fmax=None):
    r"""Triangular filters equally spaced on the mel scale, as a matrix.

    Parameters
    ----------
    n_mels : int
        Number of filters.
    n_fft : int
        FFT size; the filters act on its ``n_fft // 2 + 1`` frequency bins.
    sample_rate : float
        In Hz.
    fmin, fmax : float
        Lower edge of the first and upper edge of the last filter, in Hz; ``fmax`` defaults to
        the Nyquist frequency ``sample_rate / 2``.

    Returns
    -------
    ndarray, (n_mels, n_fft // 2 + 1)
        Row b is filter b, with peak value 1.

    Notes
    -----
    With n_mels + 2 edges f_0 < f_1 < ... < f_{n_mels+1} equally spaced in
    mel between ``fmin`` and ``fmax``, filter b (b = 1 .. n_mels) rises linearly from 0 at
    f_{b-1} to 1 at f_b and falls back to 0 at f_{b+1}:

        F_b(f) = max(0, min((f - f_{b-1}) / (f_b - f_{b-1}), (f_{b+1} - f) / (f_{b+1} - f_b))),

    evaluated at the bin frequencies f = k · sample_rate / n_fft, all
    filters and bins at once by broadcasting.
    """
    fmax = sample_rate / 2 if fmax is None else fmax
    if not 0 <= fmin < fmax <= sample_rate / 2:
        raise UserError(f"fmin, fmax: expected 0 <= fmin < fmax <= sample_rate / 2 = "
                        f"{sample_rate / 2}, got {fmin} and {fmax}")
    if n_mels < 1:
        raise UserError(f"n_mels: expected a positive integer, got {n_mels}")
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    bins = np.arange(n_fft // 2 + 1) * sample_rate / n_fft  # (K,)
    lower, center, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # (n_mels, 1)
    rising = (bins - lower) / (center - lower)
    falling = (upper - bins) / (upper - center)
    return np.maximum(0.0, np.minimum(rising, falling))


def log_mel(power, filterbank):
    r"""Log mel energies log(P F^T + ε), ``(T, n_mels)``, of a power spectrum
    ``(T, K)`` and a filterbank ``(n_mels, K)`` (:func:`mel_filterbank`); ε is
    :data:`LOG_FLOOR`."""
    return np.log(power @ filterbank.T + LOG_FLOOR)


def mfcc(log_energies, n_mfcc):
    r"""Mel-frequency cepstral coefficients: the first ``n_mfcc`` coefficients of the
    orthonormal type-II DCT of each row of ``log_energies`` ``(T, n_mels)``; ``(T, n_mfcc)``.

        c_{t,q} = √((2 - [q = 0]) / B) Σ_{b=0}^{B-1} log E_{t,b} cos(π q (2b + 1) / (2B)),   q = 0 .. n_mfcc - 1.
    """
    if not 1 <= n_mfcc <= log_energies.shape[1]:
        raise UserError(f"n_mfcc: expected 1 .. n_mels = {log_energies.shape[1]}, got {n_mfcc}")
    return scipy.fft.dct(log_energies, type=2, norm="ortho", axis=1)[:, :n_mfcc]


def time_pool(features, n_segments):
    r"""Average T frames over ``n_segments`` equal segments of time.

    Parameters
    ----------
    features : ndarray, (T, B)
        Frame t stands for the time interval [t, t + 1) (in frames).
    n_segments : int

    Returns
    -------
    ndarray, (n_segments, B)
        Row s is the time average of the features over [sT/S, (s+1)T/S), with
        S = ``n_segments``.

    Notes
    -----
    The average is exact for a piecewise constant signal, which also handles T < S (a frame
    then covers several segments) and T not a multiple of S (a frame is split between two).
    It is one matrix product A X with the overlap matrix

        A_{s,t} = (S/T) |[t, t+1) ∩ [sT/S, (s+1)T/S)|
                = (S/T) max(0, min(t+1, (s+1)T/S) - max(t, sT/S)),

    whose rows sum to 1.
    """
    if n_segments < 1:
        raise UserError(f"n_segments: expected a positive integer, got {n_segments}")
    T = features.shape[0]
    bounds = np.arange(n_segments + 1) * T / n_segments
    t = np.arange(T)
    overlap = np.minimum(t + 1, bounds[1:, None]) - np.maximum(t, bounds[:-1, None])
    return (np.maximum(overlap, 0.0) * (n_segments / T)) @ features


# --------------------------------------------------------------------------------------------
# All steps with one set of settings
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AudioFeatures:
    """Settings of the front end, and the front end itself: ``AudioFeatures()(signal)``.

    Attributes
    ----------
    sample_rate : int
        Hz (the Free Spoken Digit Dataset's 8000).
    frame_ms, hop_ms : float
        Frame length and hop, in milliseconds (25 and 10, the usual speech values).
    n_fft : int
        FFT size, at least the frame length in samples.
    n_mels : int
        Mel filters.
    n_mfcc : int or None
        Cepstral coefficients kept; None keeps the log mel energies themselves.
    n_segments : int
        Time segments the frames are averaged over (:func:`time_pool`).
    preemphasis : float
        α of the pre-emphasis filter; 0 turns it off.
    """

    sample_rate: int = 8000
    frame_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int = 256
    n_mels: int = 40
    n_mfcc: int | None = 20
    n_segments: int = 10
    preemphasis: float = 0.97

    @property
    def frame_length(self):
        """Samples per frame."""
        return round(self.frame_ms * self.sample_rate / 1000)

    @property
    def hop_length(self):
        """Samples between frame starts."""
        return round(self.hop_ms * self.sample_rate / 1000)

    @property
    def size(self):
        """Length of the feature vector: ``n_segments * (n_mfcc or n_mels)``."""
        return self.n_segments * (self.n_mfcc or self.n_mels)

    def filterbank(self):
        """The :func:`mel_filterbank` of these settings, ``(n_mels, n_fft // 2 + 1)``."""
        return mel_filterbank(self.n_mels, self.n_fft, self.sample_rate)

    def frames(self, signal, filterbank=None):
        """Per-frame features of a signal: ``(T, n_mfcc or n_mels)`` (steps 2-6).

        ``filterbank`` may be passed to save recomputing it for every clip.

        Raises
        ------
        UserError
            If ``signal`` is not a non-empty 1-D array of finite numbers.
        """
        signal = np.asarray(signal, dtype=np.float64)
        if signal.ndim != 1 or signal.size == 0:
            raise UserError(f"signal: expected a non-empty 1-D (mono) array, got shape {signal.shape}")
        if not np.isfinite(signal).all():
            raise UserError("signal: expected finite samples, got NaN or infinite values")
        emphasized = np.append(signal[:1], signal[1:] - self.preemphasis * signal[:-1])
        power = power_spectrum(frame_signal(emphasized, self.frame_length, self.hop_length), self.n_fft)
        energies = log_mel(power, self.filterbank() if filterbank is None else filterbank)
        return energies if self.n_mfcc is None else mfcc(energies, self.n_mfcc)

    def __call__(self, signal, filterbank=None):
        """The fixed-size feature vector of a signal, ``(size,)``: :meth:`frames`, then
        :func:`time_pool` and flattening segment by segment."""
        return time_pool(self.frames(signal, filterbank), self.n_segments).reshape(-1)
