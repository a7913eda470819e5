"""Audio devices through PortAudio (sounddevice): listing them and finding one by index or name."""

from __future__ import annotations

from dataclasses import dataclass

from visualizer.errors import UserError


class AudioDeviceError(UserError):
    """PortAudio is missing, or the requested device does not exist or cannot open."""


@dataclass(frozen=True)
class AudioDevice:
    """One PortAudio device."""

    index: int
    name: str
    host_api: str
    max_input_channels: int
    max_output_channels: int
    default_sample_rate: float
    default_low_input_latency_s: float

    def describe(self) -> str:
        kinds = [k for k, n in (("in", self.max_input_channels), ("out", self.max_output_channels)) if n]
        return (f"{self.index:3d}  {self.name} ({self.host_api}; {'/'.join(kinds)} "
                f"{max(self.max_input_channels, self.max_output_channels)} ch, "
                f"{self.default_sample_rate:.0f} Hz)")


def _sounddevice():
    try:
        import sounddevice
    except OSError:
        raise AudioDeviceError("the PortAudio library is missing; install it with "
                               "'sudo apt-get install libportaudio2'") from None
    return sounddevice


def list_devices() -> list[AudioDevice]:
    """Every device PortAudio sees, in its own order."""
    sd = _sounddevice()
    apis = sd.query_hostapis()
    return [
        AudioDevice(index=i, name=d["name"], host_api=apis[d["hostapi"]]["name"],
                    max_input_channels=d["max_input_channels"], max_output_channels=d["max_output_channels"],
                    default_sample_rate=d["default_samplerate"],
                    default_low_input_latency_s=d["default_low_input_latency"])
        for i, d in enumerate(sd.query_devices())
    ]


def describe_devices(devices: list[AudioDevice] | None = None) -> str:
    """A printable table of the devices, or a hint when there are none."""
    devices = list_devices() if devices is None else devices
    if not devices:
        return "no audio devices found (is PulseAudio or PipeWire running, or a sound card present?)"
    return "\n".join(d.describe() for d in devices)


def find_device(spec: str | int | None, *, kind: str = "input") -> AudioDevice:
    """The device named by ``spec``: an index, a case-insensitive name substring, or None for the default.

    ``kind`` is "input" or "output"; a device without channels of that kind is refused.
    """
    devices = list_devices()
    channels = (lambda d: d.max_input_channels) if kind == "input" else (lambda d: d.max_output_channels)
    usable = [d for d in devices if channels(d) > 0]
    listing = "; ".join(f"{d.index}: {d.name}" for d in usable) or "none"
    if spec is None or spec == "":
        sd = _sounddevice()
        default = sd.default.device[0 if kind == "input" else 1]
        if default is None or default < 0:
            if usable:
                return usable[0]
            raise AudioDeviceError(f"no audio {kind} device found; connect one, or start PulseAudio "
                                   "(see 'visualizer --list-devices')")
        return devices[default]
    text = str(spec).strip()
    if text.isdigit():
        matches = [d for d in usable if d.index == int(text)]
    else:
        matches = [d for d in usable if text.lower() in d.name.lower()]
    if not matches:
        raise AudioDeviceError(f"no {kind} device matches '{text}'; {kind} devices: {listing} "
                               "(choose one with --device; see --list-devices)")
    exact = [d for d in matches if d.name.lower() == text.lower()]
    return (exact or matches)[0]
