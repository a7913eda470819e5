"""MIDI bindings: controller values into setting ranges, and what MIDI learn writes."""

import tomllib

from visualizer.control.midi import binding_toml, binding_value, learned_binding
from visualizer.settings import MidiBinding, from_dict


def test_a_controller_spans_the_bound_range_through_its_curve():
    b = MidiBinding(cc=1, key="effects.zoom", min=1.0, max=2.0)
    assert binding_value(b, 0) == 1.0 and binding_value(b, 127) == 2.0
    assert abs(binding_value(b, 64) - (1.0 + 64 / 127)) < 1e-9
    square = MidiBinding(cc=1, key="effects.zoom", min=1.0, max=2.0, curve="square")
    assert binding_value(square, 64) < binding_value(b, 64)


def test_midi_learn_writes_a_table_the_settings_file_accepts():
    for kind, number, channel, key in [("cc", 7, 1, "Z"), ("note", 36, 10, "_3"), ("note", 40, 2, "SPACE")]:
        binding = learned_binding(kind, number, channel, key)
        assert from_dict(tomllib.loads(binding_toml(binding))).midi == [binding]
    assert learned_binding("cc", 1, 1, "Q") is None  # a key that names no target
    assert learned_binding("note", 36, 10, "_3").action == "scene:3"
