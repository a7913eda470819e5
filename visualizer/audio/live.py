"""Live audio: a microphone (or any input device), or a file played through the speakers.

Both fill a SampleRing from the PortAudio callback with the mono mix of what is heard,
and keep a clock in ``time.monotonic()`` seconds of when the newest sample in the ring
was captured (microphone) or reached the speakers (playback). The callbacks copy into
preallocated memory only: no allocation, no locks, no logging.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass

import numpy as np

from visualizer.audio.devices import AudioDevice, AudioDeviceError, _sounddevice, find_device
from visualizer.audio.sources import AudioClip
from visualizer.handoff import SampleRing

BLOCK_SIZE = 256  # frames per callback: ~5 ms at 48 kHz


class BlockClock:
    """Ring index -> monotonic seconds, from the capture time PortAudio gives each block.

    A block's timestamp carries the jitter of when its callback ran (a few ms on PulseAudio);
    the sample clock itself is steady, so the time of index 0 (the block's time less its
    first index / rate) is averaged over blocks. A jump beyond ``reset_s`` (lost blocks, a
    restarted stream) or an overflow starts the average again.
    """

    def __init__(self, sample_rate: float, *, smoothing: float = 0.05, reset_s: float = 0.02) -> None:
        self.rate, self.smoothing, self.reset_s = float(sample_rate), smoothing, reset_s
        self.origin: float | None = None  # monotonic seconds of ring index 0

    def update(self, first_index: int, captured_at: float, *, reset: bool = False) -> None:
        """A block whose first sample (ring index ``first_index``) was captured at ``captured_at``."""
        origin = captured_at - first_index / self.rate
        if reset or self.origin is None or abs(origin - self.origin) > self.reset_s:
            self.origin = origin
        else:
            self.origin += self.smoothing * (origin - self.origin)

    def time_of(self, index: int) -> float:
        return self.origin + index / self.rate


@dataclass
class LiveStats:
    """Counters the HUD and the benchmarks read."""

    overflows: int = 0        # input blocks PortAudio reported as overflowed
    underflows: int = 0       # output blocks that reached the speakers late
    callbacks: int = 0


class _PortAudioSource:
    """Shared plumbing: ring, clock, stats, start/stop, context manager."""

    def __init__(self, sample_rate: float, ring_seconds: float) -> None:
        self.sample_rate = float(sample_rate)
        self.ring = SampleRing(int(self.sample_rate * ring_seconds))
        self.stats = LiveStats()
        self.newest_sample_time = 0.0  # monotonic seconds of the newest sample in the ring
        # (samples ever written to the ring, monotonic seconds its newest one is heard): one tuple,
        # replaced whole, so a reader never pairs a count with another block's time.
        self.clock: tuple[int, float] = (0, 0.0)
        # Set by the callback after each block (a brief lock, no allocation), so the analysis
        # thread wakes when samples arrive instead of polling for them.
        self.arrived = threading.Event()
        self.latency_s = 0.0           # the device's reported latency
        self._stream = None
        self._clock_offset = 0.0       # time.monotonic() - stream.time
        self._mix = np.zeros(BLOCK_SIZE * 16, np.float32)

    def _mono_into_ring(self, block: np.ndarray, frames: int) -> None:
        """Average the channels of block [frames, channels] into the ring without allocating."""
        channels = block.shape[1]
        if channels == 1:
            self.ring.write(block[:, 0])
            return
        mix = self._mix[:frames] if frames <= len(self._mix) else np.empty(frames, np.float32)
        np.copyto(mix, block[:, 0])
        for c in range(1, channels):
            np.add(mix, block[:, c], out=mix)
        np.multiply(mix, 1.0 / channels, out=mix)
        self.ring.write(mix)

    def start(self) -> None:
        try:
            self._stream.start()
        except Exception as exc:  # PortAudioError has no stable subclass to name here
            raise AudioDeviceError(f"the audio device failed to start ({exc}); "
                                   "pick another with --device (see --list-devices)") from None
        self._clock_offset = time.monotonic() - self._stream.time

    def stop(self) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None

    @property
    def active(self) -> bool:
        return self._stream is not None and self._stream.active

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def system_monitor() -> str:
    """The PulseAudio (or PipeWire) source that hears the default output: its monitor."""
    pactl = shutil.which("pactl")
    if pactl is None:
        raise AudioDeviceError("--input system hears the sound server's monitor of the default output; install "
                               "pactl ('sudo apt-get install pulseaudio-utils') and run PulseAudio or PipeWire")
    try:
        sink = subprocess.run([pactl, "get-default-sink"], capture_output=True, text=True, timeout=5)
    except subprocess.TimeoutExpired:
        sink = None
    if sink is None or sink.returncode != 0 or not sink.stdout.strip():
        raise AudioDeviceError("--input system needs PulseAudio or PipeWire running (pactl cannot reach it); "
                               "start the sound server, or use --input mic with a loopback device")
    return sink.stdout.strip() + ".monitor"


class MicInput(_PortAudioSource):
    """Captures an input device; ``ring`` receives its mono mix at ``sample_rate`` Hz.

    ``system=True`` captures what the machine plays instead: the monitor of PulseAudio's (or
    PipeWire's) default output. A stream that dies under the show (a device unplugged, a sound
    server's module unloaded) is noticed by ``watch``, which reopens it every ``retry_s`` until
    the device is back; meanwhile ``lost`` is True and the ring stays silent.
    """

    retry_s = 1.0

    def __init__(self, device: str | int | None = None, *, ring_seconds: float = 4.0, system: bool = False) -> None:
        self.monitor = None
        if system:
            self.monitor = system_monitor()
            device = device or "pulse"
        self._spec = device
        self.device: AudioDevice = find_device(device, kind="input")
        super().__init__(self.device.default_sample_rate, ring_seconds)
        self._block_clock = BlockClock(self.sample_rate)  # times captured blocks (playback takes DAC times as given)
        self._stream = self._open(self.device)
        self.latency_s = float(self._stream.latency)
        self.lost = False
        self.losses = self.recoveries = 0
        self._started = False
        self._next_try = 0.0
        self._lock = threading.Lock()  # watch (analysis thread) against stop (display thread)

    def _open(self, device: AudioDevice):
        sd = _sounddevice()
        if self.monitor:
            # The PulseAudio ALSA plugin records from PULSE_SOURCE when it is set, the default source otherwise.
            os.environ["PULSE_SOURCE"] = self.monitor
        try:
            return sd.InputStream(device=device.index, channels=min(2, device.max_input_channels), dtype="float32",
                                  samplerate=self.sample_rate, blocksize=BLOCK_SIZE, latency="low",
                                  callback=self._callback)
        except Exception as exc:
            raise AudioDeviceError(f"cannot open input device '{device.name}' ({exc}); "
                                   "pick another with --device (see --list-devices)") from None

    def start(self) -> None:
        super().start()
        self._started = True

    def stop(self) -> None:
        with self._lock:
            self._started = False
            super().stop()

    def watch(self, now: float) -> None:
        """Notice a stream that stopped by itself and try to reopen it (at most every ``retry_s``)."""
        with self._lock:
            if not self._started:
                return
            if not self.lost and self._stream is not None and not self._stream.active:
                self.lost, self.losses, self._next_try = True, self.losses + 1, now
                self._close_quietly()
            if not self.lost or now < self._next_try:
                return
            self._next_try = now + self.retry_s
            try:
                sd = _sounddevice()
                sd._terminate()  # PortAudio lists devices once; a device plugged in again needs a new look
                sd._initialize()
                device = find_device(self._spec, kind="input")
                stream = self._open(device)
                stream.start()
            except Exception:
                return  # still gone; try again later
            self._stream, self.device = stream, device
            self._clock_offset = time.monotonic() - stream.time
            self.lost, self.recoveries = False, self.recoveries + 1

    def _close_quietly(self) -> None:
        try:
            self._stream.close()
        except Exception:
            pass
        self._stream = None

    def _callback(self, indata, frames, time_info, status) -> None:
        if status.input_overflow:
            self.stats.overflows += 1
        self.stats.callbacks += 1
        self._mono_into_ring(indata, frames)
        written = self.ring.written
        # The ADC time is that of the block's first sample; the newest was heard one block later.
        self._block_clock.update(written - frames, time_info.inputBufferAdcTime + self._clock_offset,
                                 reset=bool(status.input_overflow))
        self.newest_sample_time = self._block_clock.time_of(written)
        self.clock = (written, self.newest_sample_time)
        self.arrived.set()


class FilePlayback(_PortAudioSource):
    """Plays a clip on an output device; ``ring`` receives what is played, as it is played.

    ``position_s`` is the playback clock: seconds of the clip that have reached the
    speakers, so visuals follow what is heard, not how fast the file decodes.
    """

    def __init__(self, clip: AudioClip, device: str | int | None = None, *, ring_seconds: float = 4.0) -> None:
        sd = _sounddevice()
        self.device = find_device(device, kind="output")
        super().__init__(clip.sample_rate, ring_seconds)
        self._frames = np.ascontiguousarray(clip.samples.T)  # [frames, channels]
        self._out_channels = min(self.device.max_output_channels, max(2, clip.channels))
        self._pos = 0
        self.finished = False
        try:
            self._stream = sd.OutputStream(device=self.device.index, channels=self._out_channels,
                                           dtype="float32", samplerate=self.sample_rate, blocksize=BLOCK_SIZE,
                                           latency="low", callback=self._callback)
        except Exception as exc:
            raise AudioDeviceError(f"cannot open output device '{self.device.name}' at {clip.sample_rate} Hz "
                                   f"({exc}); pick another with --device (see --list-devices)") from None
        self.latency_s = float(self._stream.latency)

    @property
    def position_s(self) -> float:
        return self._pos / self.sample_rate

    def _callback(self, outdata, frames, time_info, status) -> None:
        if status.output_underflow:
            self.stats.underflows += 1
        self.stats.callbacks += 1
        chunk = self._frames[self._pos:self._pos + frames]
        n = len(chunk)
        c = min(chunk.shape[1], self._out_channels)
        outdata[:n, :c] = chunk[:, :c]
        if chunk.shape[1] == 1:
            outdata[:n, 1:] = chunk  # mono goes to every speaker
        else:
            outdata[:n, c:] = 0.0
        outdata[n:] = 0.0
        self._mono_into_ring(chunk, n)
        self._pos += n
        self.newest_sample_time = time_info.outputBufferDacTime + self._clock_offset
        self.clock = (self.ring.written, self.newest_sample_time + n / self.sample_rate)
        self.arrived.set()
        if n < frames:
            self.finished = True
