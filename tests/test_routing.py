"""The router: sizes land in the pool the compiled thresholds say, predicted == measured."""
from __future__ import annotations

import pytest

from reportgen.build import build_variant
from reportgen.measuring.native import POOL_IDS, HakLib
from reportgen.variants import VARIANTS, variant_with


def expected_pool(config: dict, size: int) -> str:
    """The documented rule, applied to the thresholds the library reports."""
    if size <= config["tiny_max"]:
        return "tiny"
    if config["mid_min"] <= size <= config["mid_max"]:
        return "mid"
    return "large"


def sweep(config: dict) -> list[int]:
    sizes = {1, 8, 15, 16, 17, 100, 512, 1000, 1023, 1024, 1025, 2000, 4000, 4096, 8192, 16384,
             65536, 100_000, 1 << 20}
    for key in ("tiny_max", "mid_min", "mid_max"):
        t = config[key]
        sizes |= {t - 1, t, t + 1}
    for cls in config.get("tiny_classes", []) + config.get("mid_classes", []):
        sizes |= {cls - 1, cls, cls + 1}
    return sorted(s for s in sizes if s > 0)


def assert_routes(lib: HakLib) -> None:
    config = lib.config()
    for size in sweep(config):
        want = expected_pool(config, size)
        assert lib.route_name(size) == want, f"hak_route({size}) with {config}"
        ptr = lib.malloc(size)
        try:
            assert lib.pool_name(ptr) == want, f"malloc({size}) landed in {lib.pool_name(ptr)}"
            footprint = lib.block_footprint(size)
            if want == "large":
                assert footprint == 0
            else:
                assert footprint >= size
                assert lib.usable_size(ptr) >= size
        finally:
            lib.free(ptr)


def test_config_reports_the_variant(hak):
    config = hak.config()
    name = hak.path.stem[3:] if hak.path.stem.startswith("lib") else hak.path.stem
    assert config["variant"] in name
    expected = {"hak-6a": ("registry", "registry", 0), "hak-6b": ("header", "leak", 0),
                "hak-6c": ("header", "lockfree", 0), "hak-6a-pad16": ("registry", "registry", 16),
                "hak-6d": ("chunk", "lockfree", 0), "hak-6d-pad16": ("chunk", "lockfree", 16)}
    assert (config["mid_free"], config["mid_remote_free"], config["mid_block_pad"]) == expected[config["variant"]]
    for key in ("tiny_max", "mid_min", "mid_max", "tiny_classes", "mid_classes", "mid_header_bytes"):
        assert key in config


def test_default_thresholds_route_1024_to_tiny_and_2048_to_mid(hak):
    config = hak.config()
    assert (config["tiny_max"], config["mid_min"], config["mid_max"]) == (2047, 1024, 32768)
    assert hak.route(1024) == POOL_IDS["tiny"]
    assert hak.route(2048) == POOL_IDS["mid"]
    assert hak.route(32769) == POOL_IDS["large"]


def test_predicted_equals_measured(hak):
    assert_routes(hak)


def test_header_bytes_per_variant(hak):
    config = hak.config()
    if config["mid_free"] == "header":
        assert config["mid_header_bytes"] > 0
        assert hak.block_footprint(8192) >= 8192 + config["mid_header_bytes"]
    else:
        assert config["mid_header_bytes"] == 0


@pytest.mark.parametrize("base", list(VARIANTS))
def test_lower_tiny_max_sends_1024_to_mid(project, base):
    variant = variant_with(base, f"{base}-tiny1023", {"HAK_TINY_MAX": "1023"})
    lib = HakLib(build_variant(project, variant, "lib"))
    config = lib.config()
    assert config["tiny_max"] == 1023
    assert config["variant"] == variant.name
    assert lib.route(1023) == POOL_IDS["tiny"]
    assert lib.route(1024) == POOL_IDS["mid"]
    ptr = lib.malloc(1024)
    assert lib.pool_name(ptr) == "mid"
    lib.free(ptr)
    assert_routes(lib)
