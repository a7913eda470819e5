"""Picture sets for training: folders, the held-out split, crops, and flames rendered by flam3."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from visualizer.train.themes import ThemeError, build_theme, flame_is_visible, flames, held_out


def write_pictures(folder: Path, count: int, size: int = 80) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    paths = []
    for i in range(count):
        path = folder / f"p{i:03d}.png"
        Image.fromarray(rng.integers(0, 255, (size, size + 10, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_a_folder_splits_by_name_and_gives_crops_of_the_model_size(tmp_path):
    write_pictures(tmp_path / "pics", 30)
    train, held = build_theme(str(tmp_path / "pics"), tmp_path / "cache", 64, log=lambda m: None)
    assert len(train) + len(held) == 30 and len(held) >= 1
    assert not set(train.names) & set(held.names)
    assert all(held_out(name) for name in held.names) or len(held) == 1
    crops = train.crops(5, 64, np.random.default_rng(0))
    assert crops.shape == (5, 3, 64, 64) and crops.dtype == torch.uint8
    torch.testing.assert_close(held.fixed_crops(4, 64, seed=3), held.fixed_crops(4, 64, seed=3))


def test_a_folder_without_usable_pictures_is_one_clear_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ThemeError, match="no pictures"):
        build_theme(str(empty), tmp_path / "cache", 64)
    broken = tmp_path / "broken"
    broken.mkdir()
    for i in range(3):
        (broken / f"b{i}.jpg").write_bytes(b"\xff\xd8 not really a jpeg" * 20)
    with pytest.raises(ThemeError, match="3 unreadable") as err:
        build_theme(str(broken), tmp_path / "cache", 64, log=lambda m: None)
    assert "\n" not in str(err.value)
    with pytest.raises(ThemeError, match="no such folder"):
        build_theme(str(tmp_path / "nowhere"), tmp_path / "cache", 64)


def test_unreadable_and_small_pictures_are_skipped_and_counted(tmp_path):
    pics = tmp_path / "pics"
    write_pictures(pics, 6)
    (pics / "bad.png").write_bytes(b"garbage")
    write_pictures(pics / "small", 2, size=20)
    said = []
    train, held = build_theme(str(pics), tmp_path / "cache", 64, log=said.append)
    assert len(train) + len(held) == 6
    assert said == ["skipped 1 unreadable pictures and 2 smaller than 64 px in " + str(pics)]


def test_near_empty_flames_are_dropped():
    black = torch.zeros((3, 64, 64), dtype=torch.uint8)
    assert not flame_is_visible(black)
    speck = black.clone()
    speck[:, 30:33, 30:33] = 255
    assert not flame_is_visible(speck)
    grain = torch.from_numpy(np.random.default_rng(0).integers(0, 255, (3, 64, 64), dtype=np.uint8))
    assert not flame_is_visible(grain), "an even fill of grain has no shapes"
    yy, xx = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    disc = ((yy - 32) ** 2 + (xx - 32) ** 2 < 20 ** 2).to(torch.uint8)
    flame = (grain.float() * disc).to(torch.uint8)
    assert flame_is_visible(flame)


@pytest.mark.slow
def test_flames_are_rendered_once_from_debian_packages(tmp_path):
    """Downloads flam3 (under 1 MB) with apt-get download and renders a few small flames."""
    said = []
    train, held = flames(tmp_path, 64, count=6, log=said.append)
    rendered = sorted((tmp_path / "flames" / "72px").glob("*.png"))
    assert 1 <= len(rendered) <= 6 and len(train) + len(held) == len(rendered)
    assert all(Image.open(p).size == (72, 72) for p in rendered)
    assert all(flame_is_visible(img) for img in train.images + held.images)
    said.clear()
    flames(tmp_path, 64, count=6, log=said.append)  # the second time nothing is rendered
    assert not any("rendering" in line for line in said)
