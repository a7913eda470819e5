import numpy as np
import pytest

from visualizer.audio.features import silent_features
from visualizer.mapping.envelopes import Envelope, shape
from visualizer.mapping.mapper import Mapper
from visualizer.mapping.walk import Keyframes, slerp
from visualizer.models.io import load_generator
from visualizer.settings import Mapping, Settings, from_dict, to_dict


@pytest.fixture(scope="module")
def keyframes(tiny_checkpoint):
    return Keyframes.from_generator(load_generator(tiny_checkpoint, device="cpu"), seed=3, count=6)


def hit(t, strength=1.0, **kw):
    f = silent_features(t)
    return f.__class__(**{**f.__dict__, "onset": strength, "flux": strength, "loudness": 0.8, **kw})


def test_envelope_attack_and_release_time_constants():
    env = Envelope(attack_s=0.0, release_s=0.1)
    assert env.step(1.0, 0.01) == 1.0
    # After one time constant a one-pole release has fallen to 1/e.
    for _ in range(10):
        env.step(0.0, 0.01)
    assert env.value == pytest.approx(np.exp(-1.0), rel=1e-6)
    slow = Envelope(attack_s=1.0, release_s=0.0)
    assert slow.step(1.0, 0.1) == pytest.approx(1 - np.exp(-0.1))
    assert slow.step(0.0, 0.1) == 0.0


@pytest.mark.parametrize("curve", ["linear", "sqrt", "square", "smoothstep"])
def test_curves_map_the_unit_interval_onto_itself(curve):
    assert shape(0.0, curve) == 0.0 and shape(1.0, curve) == 1.0 and shape(2.0, curve) == 1.0
    assert 0.0 < shape(0.5, curve) < 1.0


def test_slerp_keeps_the_radius_between_orthogonal_latents():
    a, b = np.zeros(64), np.zeros(64)
    a[0], b[1] = 8.0, 8.0
    mid = slerp(a, b, 0.5)
    assert np.linalg.norm(mid) == pytest.approx(8.0)
    np.testing.assert_allclose(slerp(a, b, 0.0), a)
    np.testing.assert_allclose(slerp(a, b, 1.0), b)


def test_chroma_blend_has_the_radius_of_a_single_keyframe(keyframes):
    one_hot = np.eye(12)[4]
    np.testing.assert_allclose(keyframes.chroma_blend(one_hot), keyframes.chroma[4])
    even = keyframes.chroma_blend(np.ones(12))
    typical = np.linalg.norm(keyframes.chroma, axis=1).mean()
    assert 0.6 * typical < np.linalg.norm(even) < 1.4 * typical


def test_an_onset_flashes_at_once_and_fades_with_the_release(keyframes):
    mapper = Mapper(Settings(), keyframes)
    dt = 1 / 30
    _, before = mapper.step(silent_features(0.0), dt)
    _, during = mapper.step(hit(dt), dt)
    flashes = [mapper.step(silent_features(dt * (k + 2)), dt)[1].flash for k in range(10)]
    assert before.flash == 0.0 and during.flash > 0.3
    assert all(a > b for a, b in zip([during.flash] + flashes, flashes))
    assert flashes[-1] < 0.05


def test_an_onset_pushes_the_latent_and_it_returns(keyframes):
    settings = Settings().with_overrides(walk={"base_speed": 0.0, "max_speed": 0.0, "chroma_weight": 0.0})
    mapper = Mapper(settings, keyframes)
    dt = 1 / 30
    rest, _ = mapper.step(silent_features(0.0), dt)
    pushed, _ = mapper.step(hit(dt), dt)
    for k in range(60):
        back, _ = mapper.step(silent_features(dt * (k + 2)), dt)
    assert np.linalg.norm(pushed - rest) > 0.5 * np.linalg.norm(back - rest) + 0.1
    assert np.linalg.norm(back - rest) < 0.05 * np.linalg.norm(pushed - rest)


def test_loud_music_walks_faster(keyframes):
    dt = 1 / 30
    quiet, loud = Mapper(Settings(), keyframes), Mapper(Settings(), keyframes)
    for k in range(90):
        quiet.step(silent_features(k * dt), dt)
        loud.step(hit(k * dt, strength=0.0, loudness=1.0), dt)
    assert loud.position > 3 * quiet.position > 0


def test_chroma_pulls_toward_its_pitch_class_keyframe(keyframes):
    settings = Settings().with_overrides(walk={"chroma_weight": 1.0, "base_speed": 0.0, "truncation": 1.0})
    mapper = Mapper(settings, keyframes)
    chroma = np.eye(12)[7]
    for k in range(120):
        z, _ = mapper.step(hit(k / 30, strength=0.0, loudness=1.0, chroma=chroma), 1 / 30)
    np.testing.assert_allclose(z - keyframes.mean, keyframes.chroma[7], atol=1e-3 * np.abs(keyframes.chroma[7]).max())


def test_same_inputs_give_the_same_latents(keyframes):
    runs = []
    for _ in range(2):
        mapper = Mapper(Settings(), keyframes)
        runs.append([mapper.step(hit(k / 30, strength=float(k % 7 == 0)), 1 / 30)[0] for k in range(40)])
    np.testing.assert_array_equal(np.stack(runs[0]), np.stack(runs[1]))


def test_reloaded_settings_keep_unchanged_envelopes(keyframes):
    mapper = Mapper(Settings(), keyframes)
    mapper.step(hit(0.0), 1 / 30)
    flash_before = mapper.step(silent_features(0.1), 1 / 30)[1].flash
    data = to_dict(Settings())
    data["mappings"].append(to_dict(Mapping(source="bass", target="warp")))
    mapper.update_settings(from_dict(data))
    flash_after = mapper.step(silent_features(0.2), 1 / 30)[1].flash
    assert 0 < flash_after < flash_before


def test_bars_mapped_to_jump_move_on_one_keyframe_per_bar(keyframes):
    data = to_dict(Settings())
    data["mappings"] = [to_dict(Mapping(source="bar", target="jump", gain=1.0, attack_s=0.0, release_s=0.05))]
    data["walk"]["base_speed"] = 0.0
    mapper = Mapper(from_dict(data), keyframes)
    positions = []
    for k in range(300):  # 10 s at 30 fps, a bar every 2 s (one frame carries it)
        positions.append(mapper.step(hit(k / 30, strength=0.0, bar=float(k % 60 == 30)), 1 / 30) and mapper.position)
    assert positions[29] == 0.0 and positions[30] == 1.0 and positions[-1] == 5.0
    assert sorted(set(positions)) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_beat_phase_and_tempo_are_mapping_sources(keyframes):
    data = to_dict(Settings())
    data["mappings"] = [to_dict(Mapping(source="beat_phase", target="hue", gain=0.5, attack_s=0.0, release_s=0.0)),
                        to_dict(Mapping(source="tempo", target="warp", gain=1.0, attack_s=0.0, release_s=0.0))]
    data["effects"]["hue_drift_deg_per_s"] = 0.0
    mapper = Mapper(from_dict(data), keyframes)
    _, u = mapper.step(hit(0.0, strength=0.0, beat_phase=0.5, tempo_bpm=150.0), 1 / 30)
    assert u.hue == pytest.approx(0.25) and u.warp == pytest.approx(0.75)


def test_pulses_restricted_to_fine_layers_move_only_those(keyframes):
    groups = {"all": (0, 10), "coarse": (0, 3), "middle": (3, 7), "fine": (7, 10)}
    data = to_dict(Settings())
    data["mappings"] = [to_dict(Mapping(source="onset", target="pulse", gain=1.0, release_s=0.3, layers="fine")),
                        to_dict(Mapping(source="onset", target="pulse", gain=0.5, release_s=0.3, layers="1-2"))]
    layered = Mapper(from_dict(data), keyframes, layer_groups=groups)
    still = Mapper(from_dict(data), keyframes)  # a model without layers: the same pulse moves everything
    rest, _ = layered.step(silent_features(0.0), 1 / 30)
    assert rest.shape == (10, keyframes.mean.shape[0]) and np.allclose(rest, rest[0])
    pushed, _ = layered.step(hit(1 / 30), 1 / 30)
    moved = np.linalg.norm(pushed - pushed[0], axis=1)  # layer 0 (coarse) has no pulse: the walk alone
    assert np.all(moved[[3, 4, 5, 6]] < 1e-6) and np.all(moved[7:] > 0.1) and np.all(moved[1:3] > 0.05)
    assert moved[7] > moved[1]  # gain 1 against gain 0.5
    flat, _ = still.step(hit(1 / 30), 1 / 30)
    assert flat.ndim == 1


def test_noise_mappings_scale_the_chosen_layers(keyframes):
    groups = {"all": (0, 10), "coarse": (0, 3), "middle": (3, 7), "fine": (7, 10)}
    data = to_dict(Settings())
    data["mappings"] = [to_dict(Mapping(source="treble", target="noise", gain=2.0, attack_s=0.0, release_s=0.0,
                                        layers="fine"))]
    mapper = Mapper(from_dict(data), keyframes, layer_groups=groups)
    mapper.step(hit(0.0, strength=0.0, treble=0.5), 1 / 30)
    np.testing.assert_allclose(mapper.noise_scale, [1, 1, 1, 1, 1, 1, 1, 2, 2, 2])
    plain = Mapper(from_dict(data), keyframes)  # a model without layers has no noise to scale
    plain.step(hit(0.0, strength=0.0, treble=0.5), 1 / 30)
    assert plain.noise_scale is None


def test_hue_rotation_keeps_luma_and_a_full_turn_is_none():
    from visualizer.mapping.mapper import hue_rotation

    def matrix(turns):  # the uniform is column-major, as GLSL reads a mat3
        return np.array(hue_rotation(turns)).reshape(3, 3).T

    np.testing.assert_allclose(matrix(0.0), np.eye(3), atol=1e-12)
    np.testing.assert_allclose(matrix(1.0), np.eye(3), atol=1e-12)
    red = np.array([1.0, 0.0, 0.0])
    luma = np.array([0.299, 0.587, 0.114])
    for turns in (0.1, 1 / 3, 0.5):
        assert luma @ (matrix(turns) @ red) == pytest.approx(luma @ red)
    assert np.argmax(matrix(1 / 3) @ red) != 0  # a third of a turn moves red's hue away from red
