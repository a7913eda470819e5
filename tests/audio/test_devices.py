import pytest

from visualizer.audio.devices import AudioDevice, AudioDeviceError, describe_devices, find_device, list_devices


def test_listing_describes_every_device_or_says_there_are_none():
    devices = list_devices()
    text = describe_devices(devices)
    if devices:
        assert all(d.name in text for d in devices)
    else:
        assert "no audio devices found" in text


def test_an_unknown_device_name_is_refused_with_the_list():
    with pytest.raises(AudioDeviceError, match="no input device matches 'surely-no-such-device-xyz'"):
        find_device("surely-no-such-device-xyz")


def test_description_names_channels_and_rate():
    d = AudioDevice(index=3, name="USB Audio", host_api="ALSA", max_input_channels=2, max_output_channels=0,
                    default_sample_rate=48000.0, default_low_input_latency_s=0.01)
    assert d.describe() == "  3  USB Audio (ALSA; in 2 ch, 48000 Hz)"

