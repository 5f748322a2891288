"""Behaviour of the batched CIFAR-C corruptions: range, shape, seeding, severity, formulas."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from actsearch.errors import ConfigError
from actsearch.trainers.corruptions import CORRUPTION_CATEGORIES, CORRUPTIONS, corrupt, resolve_corruptions

NAMES = list(CORRUPTIONS)
RANDOM = {"gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "glass_blur", "motion_blur", "fog",
          "elastic_transform", "snow", "frost", "spatter"}


def natural_images(count: int, channels: int, size: int, seed: int = 1) -> torch.Tensor:
    """Smooth random fields with a bright rectangle and a dark band: edges and texture, values in [0.05, 0.95]."""
    generator = torch.Generator().manual_seed(seed)
    images = F.interpolate(torch.rand(count, channels, 5, 5, generator=generator), size=(size, size),
                           mode="bicubic", align_corners=False)
    images[:, :, size // 4 : size // 2, size // 3 :] += 0.3
    images[:, :, :, : size // 5] -= 0.2
    return images.clamp(0.05, 0.95)


@pytest.fixture(scope="module")
def rgb() -> torch.Tensor:
    return natural_images(8, 3, 32)


@pytest.fixture(scope="module")
def gray() -> torch.Tensor:
    return natural_images(8, 1, 16)


@pytest.fixture(scope="module", params=["rgb", "gray"])
def images(request, rgb, gray) -> torch.Tensor:
    return rgb if request.param == "rgb" else gray


@pytest.fixture(scope="module")
def distortions(images) -> dict[str, list[float]]:
    """Mean absolute change per severity, for every corruption."""
    return {name: [(corrupt(images, name, s, seed=0) - images).abs().mean().item() for s in range(1, 6)]
            for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_keeps_shape_dtype_and_range(images, name):
    for severity in range(1, 6):
        out = corrupt(images, name, severity, seed=3)
        assert out.shape == images.shape and out.dtype == images.dtype and out.device == images.device
        assert torch.isfinite(out).all()
        assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("name", NAMES)
def test_changes_the_images(images, name, distortions):
    if name == "saturate" and images.shape[1] == 1:  # documented no-op: gray pixels have no saturation
        assert all(d == 0 for d in distortions[name])
    else:
        assert all(d > 0 for d in distortions[name]), distortions[name]


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_images_and_seeds_differ_for_random_ones(images, name):
    first = corrupt(images, name, 4, seed=11)
    assert torch.equal(first, corrupt(images, name, 4, seed=11))
    other = corrupt(images, name, 4, seed=12)
    if name in RANDOM:
        assert not torch.equal(first, other)
    else:
        assert torch.equal(first, other)


@pytest.mark.parametrize("name", NAMES)
def test_distortion_grows_with_severity(images, name, distortions):
    d = distortions[name]
    gray = images.shape[1] == 1
    if name == "saturate":  # severities 1-2 desaturate, 3-5 oversaturate
        if not gray:
            assert d[0] < d[1] and d[2] < d[3] < d[4]
    elif name == "glass_blur":  # one sweep at 1-3 (more blur smooths it), two sweeps at 4-5
        assert min(d[3:]) > max(d[:3])
    elif name == "elastic_transform":  # affine jitter shrinks while the elastic field grows
        assert min(d) > 0.01
    elif name == "frost":  # the image dims less (c0) while the frost grows (c1) only up to severity 3
        assert d[0] < d[1] < d[2] and min(d[3:]) > d[0]
    elif name == "spatter":  # water at 1-3, mud at 4-5
        assert d[0] < d[1] and d[3] < d[4]
    elif name == "snow":  # 2 and 3 trade a lower threshold for a larger zoom
        assert d[0] < d[1] and d[2] < d[3] < d[4]
    elif name == "pixelate" and gray:  # int(16 * c) rounding makes 16x16 irregular
        assert d[4] > d[0]
    else:  # ties only where the constants (nearly) tie: motion_blur's sigma at 3-4, tiny blurs at 16x16
        assert all(later >= earlier - 1e-6 for earlier, later in zip(d, d[1:])), d
        assert d[4] > d[0] * 1.5, d


def test_does_not_modify_its_input(rgb):
    before = rgb.clone()
    for name in NAMES:
        corrupt(rgb, name, 5, seed=0)
    assert torch.equal(rgb, before)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_keeps_other_float_dtypes(rgb, dtype):
    out = corrupt(rgb.to(dtype), "fog", 2, seed=0)
    assert out.dtype == dtype
    assert torch.allclose(out.float(), corrupt(rgb, "fog", 2, seed=0), atol=0.02)


def test_any_image_size():
    odd = natural_images(3, 3, 20)[..., :13]
    for name in NAMES:
        assert corrupt(odd, name, 5, seed=0).shape == odd.shape


def test_noise_formulas():
    flat = torch.full((4, 3, 32, 32), 0.5)
    assert (corrupt(flat, "gaussian_noise", 5, seed=0) - flat).std().item() == pytest.approx(0.10, rel=0.05)
    assert (corrupt(flat, "speckle_noise", 5, seed=0) - flat).std().item() == pytest.approx(0.5 * 0.20, rel=0.05)
    # Poisson(x * c) / c has variance x / c
    assert (corrupt(flat, "shot_noise", 5, seed=0) - flat).var().item() == pytest.approx(0.5 / 50, rel=0.1)
    changed = corrupt(flat, "impulse_noise", 5, seed=0) != flat
    assert changed.float().mean().item() == pytest.approx(0.07, rel=0.1)
    assert set(corrupt(flat, "impulse_noise", 5, seed=0)[changed].unique().tolist()) == {0.0, 1.0}


def test_contrast_formula(rgb):
    means = rgb.mean((2, 3), keepdim=True)
    assert torch.allclose(corrupt(rgb, "contrast", 5, seed=0), (rgb - means) * 0.15 + means, atol=1e-6)


def test_brightness_raises_the_hsv_value(rgb, gray):
    dim = rgb * 0.5  # values up to 0.475: no clipping at +0.3
    out = corrupt(dim, "brightness", 5, seed=0)
    assert torch.allclose(out.amax(1), dim.amax(1) + 0.3, atol=1e-5)
    # hue and saturation are kept: the channel differences scale with the value
    ratio = (out.amax(1) - out.amin(1)) / out.amax(1)
    assert torch.allclose(ratio, (dim.amax(1) - dim.amin(1)) / dim.amax(1), atol=1e-5)
    assert torch.allclose(corrupt(gray, "brightness", 2, seed=0), (gray + 0.1).clamp(0, 1))


def test_saturate_scales_saturation_and_keeps_gray_pixels(rgb):
    gray_rgb = rgb[:, :1].expand(-1, 3, -1, -1)
    assert torch.allclose(corrupt(gray_rgb, "saturate", 3, seed=0), gray_rgb, atol=1e-6)
    out = corrupt(rgb, "saturate", 2, seed=0)  # saturation * 0.1
    saturation = (rgb.amax(1) - rgb.amin(1)) / rgb.amax(1)
    assert torch.allclose((out.amax(1) - out.amin(1)) / out.amax(1), saturation * 0.1, atol=1e-5)
    assert torch.allclose(out.amax(1), rgb.amax(1), atol=1e-6)


def test_blurs_keep_constant_images():
    flat = torch.full((2, 3, 32, 32), 77 / 255)  # on the 8-bit grid: motion_blur truncates to 8 bits
    for name in ("gaussian_blur", "defocus_blur", "motion_blur", "zoom_blur", "pixelate"):
        assert torch.allclose(corrupt(flat, name, 5, seed=0), flat, atol=1e-5), name


def test_validation_errors(rgb):
    with pytest.raises(ConfigError, match="allowed: .*gaussian_noise.*did you mean 'jpeg_compression'"):
        corrupt(rgb, "jpeg", 1, seed=0)
    with pytest.raises(ConfigError, match="severity must be an integer 1..5, got 6"):
        corrupt(rgb, "fog", 6, seed=0)
    with pytest.raises(ConfigError, match="float tensor"):
        corrupt((rgb * 255).to(torch.uint8), "fog", 1, seed=0)
    with pytest.raises(ConfigError, match="C 1 or 3"):
        corrupt(rgb[:, :2], "fog", 1, seed=0)


def test_resolve_corruptions():
    assert resolve_corruptions(None) == []
    assert resolve_corruptions("all") == NAMES
    assert resolve_corruptions("noise") == ["gaussian_noise", "shot_noise", "impulse_noise"]
    assert resolve_corruptions(["fog", "weather", "Contrast"]) == ["fog", "snow", "frost", "brightness", "contrast"]
    assert resolve_corruptions("cifar-c") == resolve_corruptions([" CIFAR-C"]) == ["cifar-c"]
    with pytest.raises(ConfigError, match="'cifar-c' scores the official CIFAR-C files and cannot be mixed"):
        resolve_corruptions(["cifar-c", "fog"])
    with pytest.raises(ConfigError, match="unknown corruption 'rain'; allowed: gaussian_noise, .*, noise, blur, .*, all, cifar-c"):
        resolve_corruptions(["rain"])
    with pytest.raises(ConfigError, match="unknown corruption 3; allowed: gaussian_noise"):
        resolve_corruptions(["fog", 3])
    with pytest.raises(ConfigError, match="unknown corruption 3; allowed: gaussian_noise"):
        resolve_corruptions(3)


def test_categories_partition_the_registry():
    listed = [name for names in CORRUPTION_CATEGORIES.values() for name in names]
    assert sorted(listed) == sorted(NAMES) and len(listed) == len(set(listed)) == 19
    assert list(CORRUPTION_CATEGORIES) == ["noise", "blur", "weather", "digital", "extra"]


def test_registry_callables_take_a_generator(rgb):
    generator = torch.Generator().manual_seed(5)
    assert torch.equal(CORRUPTIONS["fog"](rgb, 3, generator), corrupt(rgb, "fog", 3, seed=5))
