import re
import tomllib

import pytest

from visualizer.settings import Mapping, Settings, SettingsError, from_dict, load_settings, to_dict, to_toml


def test_printed_defaults_load_back_to_the_defaults():
    text = to_toml(Settings())
    assert from_dict(tomllib.loads(text)) == Settings()
    assert "# output width and height in pixels" in text


def test_missing_keys_keep_defaults(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("[walk]\ntruncation = 0.5\n")
    s = load_settings(path)
    assert s.walk.truncation == 0.5
    assert s.render == Settings().render


@pytest.mark.parametrize("text, words", [
    ("[walk]\ntrucation = 0.5\n", ["walk.trucation", "walk.truncation"]),
    ("[rendr]\nfps = 30\n", ["rendr", "render"]),
    ("[render]\nfps = -3\n", ["render.fps", "[1, 240]"]),
    ("[render]\nsize = 'big'\n", ["render.size", "int"]),
    ("[[mappings]]\nsource = 'onst'\n", ["mappings[0].source", "onset"]),
    ("[[mappings]]\ntarget = 'flash'\ngian = 2\n", ["mappings[0].gian", "mappings[0].gain"]),
    ("[render\n", ["not valid TOML"]),
    ("[live]\nwindow_filter = 'bilinar'\n", ["live.window_filter", "did you mean 'bilinear'"]),
])
def test_bad_settings_name_the_key_and_the_fix(tmp_path, text, words):
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(SettingsError) as err:
        load_settings(path)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_a_bad_choice_lists_the_choices_once(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("[live]\nwindow_filter = 'cubic'\n")
    with pytest.raises(SettingsError) as err:
        load_settings(path)
    assert str(err.value) == "settings key 'live.window_filter' is 'cubic'; choose one of auto, bilinear, nearest"


def test_mappings_in_a_file_replace_the_default_list(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("[[mappings]]\nsource = 'bass'\ntarget = 'flash'\ngain = 2.0\n")
    assert load_settings(path).mappings == [Mapping(source="bass", target="flash", gain=2.0)]


def test_overrides_are_validated():
    with pytest.raises(SettingsError, match="render.size"):
        Settings().with_overrides(render={"size": 0})
    assert Settings().with_overrides(render={"fps": 24, "seed": None}).render.fps == 24.0


def test_a_relative_checkpoint_is_relative_to_the_settings_file(tmp_path):
    show = tmp_path / "show"
    show.mkdir()
    (show / "s.toml").write_text("[model]\ncheckpoint = 'models/mine.safetensors'\n")
    assert load_settings(show / "s.toml").model.checkpoint == str(show / "models" / "mine.safetensors")
    (show / "abs.toml").write_text(f"[model]\ncheckpoint = '{tmp_path}/x.safetensors'\n")
    assert load_settings(show / "abs.toml").model.checkpoint == f"{tmp_path}/x.safetensors"


@pytest.mark.parametrize("value, ok", [("all", True), ("fine", True), ("0-3", True), ("5", True), ("fien", False),
                                       ("3-", False), ("layers", False)])
def test_mapping_layers_take_groups_or_index_ranges(value, ok):
    data = to_dict(Settings())
    data["mappings"][0]["layers"] = value
    if ok:
        assert from_dict(data).mappings[0].layers == value
    else:
        with pytest.raises(SettingsError, match=r"mappings\[0\]\.layers"):
            from_dict(data)


def test_the_settings_reference_page_is_current():
    """docs/settings.md is generated from the schema; regenerate it with the command it names."""
    from pathlib import Path

    from visualizer.settings import to_markdown

    page = Path(__file__).resolve().parents[1] / "docs" / "settings.md"
    assert page.read_text() == to_markdown(), \
        "docs/settings.md is stale: run .venv/bin/visualizer --print-settings --format markdown > docs/settings.md"


def test_one_key_is_set_by_its_dotted_name_and_checked_as_a_file_is():
    from visualizer.settings import Settings, SettingsError

    s = Settings()
    assert s.with_key("effects.zoom", 1.4).effects.zoom == 1.4
    assert s.with_key("mappings.2.gain", 0.8).mappings[2].gain == 0.8
    assert s.with_key("render.batch", 4.0).render.batch == 4 and isinstance(s.with_key("render.batch", 4.0).render.batch, int)
    assert s.with_key("show.scene_on_bar", 0).show.scene_on_bar is False
    for key, value, words in [("effects.zom", 1.0, "did you mean 'effects.zoom'"),
                              ("effects.zoom", 99.0, "[0.25, 4]"), ("mappings.9.gain", 1.0, "entries 0..5"),
                              ("effects", 1.0, "is a table"), ("render.batch", 2.5, "must be int")]:
        with pytest.raises(SettingsError, match=re.escape(words)):
            s.with_key(key, value)


def test_midi_bindings_are_checked_when_the_file_is_read():
    from visualizer.settings import SettingsError, from_dict

    ok = from_dict({"midi": [{"cc": 1, "key": "mappings.0.gain", "min": 0, "max": 2}, {"note": 36, "action": "scene:a"}]})
    assert ok.midi[0].key == "mappings.0.gain" and ok.midi[1].action == "scene:a"
    for binding, words in [({"cc": 1}, "exactly one of key"), ({"cc": 1, "note": 2, "action": "tap"}, "exactly one of cc"),
                           ({"cc": 1, "key": "effects.fit"}, "not a number"), ({"note": 1, "action": "jump"}, "choose one of")]:
        with pytest.raises(SettingsError, match=re.escape(words)):
            from_dict({"midi": [binding]})
