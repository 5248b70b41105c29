"""Every bounded setting: its limits as reviewed, and a boundary table from its definition.

The table (below, at the bottom, at the top, above) is generated from needledrop.settings, the
definitions the validation reads, so a check in config.py that lets more through fails here. The
definitions themselves are pinned by LIMITS below: widening a limit takes two edits and a
reviewer who sees both (and, for [matrix], the regenerated rgb_matrix role files).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
from needledrop import config as config_mod
from needledrop.config import Config, ConfigError, parse_config
from needledrop.settings import SETTINGS, Setting

# key: (lo, hi, step) as reviewed against upstream (docs/panel.md) and the app's needs.
LIMITS: dict[str, tuple[float, float, int]] = {
    "matrix.rows": (8, 64, 2),
    "matrix.cols": (16, 1024, 1),
    "matrix.chain_length": (1, 32, 1),
    "matrix.parallel": (1, 6, 1),
    "matrix.pwm_bits": (1, 11, 1),
    "matrix.pwm_lsb_nanoseconds": (50, 3000, 1),
    "matrix.pwm_dither_bits": (0, 2, 1),
    "matrix.brightness": (1, 100, 1),
    "matrix.scan_mode": (0, 1, 1),
    "matrix.multiplexing": (0, 22, 1),
    "matrix.row_address_type": (0, 5, 1),
    "matrix.limit_refresh_rate_hz": (0, 10000, 1),
    "matrix.gpio_slowdown": (-1, 10, 1),
    "matrix.rp1_rio": (0, 1, 1),
    "display.fps": (1, 60, 1),
    "display.emulator_port": (1, 65535, 1),
    "layout.scroll_px_per_s": (0, 200, 1),
    "layout.idle_after_s": (0, 86400, 1),
    "layout.token_warning_days": (0, 180, 1),
    "night.brightness": (1, 100, 1),
    "polling.skip_bound_s": (1, 120, 1),
    "polling.paused_s": (1, 3600, 1),
    "polling.idle_s": (1, 3600, 1),
    "polling.burst_s": (1, 120, 1),
    "polling.burst_window_s": (0, 3600, 1),
    "polling.end_margin_s": (0, 10, 1),
    "polling.request_timeout_s": (0.5, 60, 1),
    "polling.backoff_min_s": (0.1, 3600, 1),
    "polling.backoff_max_s": (1, 86400, 1),
    "polling.token_check_s": (1, 3600, 1),
    "share.port": (0, 65535, 1),
    "share.long_poll_s": (1, 60, 1),
    "share.failover_s": (1, 3600, 1),
    "share.recheck_s": (1, 3600, 1),
    "share.max_skew_s": (5, 3600, 1),
    "share.rate_per_s": (0.1, 1000, 1),
}

BOUNDED = [s for s in SETTINGS if s.bounded]
SECTIONS = {
    "matrix": config_mod.MatrixConfig,
    "display": config_mod.DisplayConfig,
    "layout": config_mod.LayoutConfig,
    "night": config_mod.NightConfig,
    "polling": config_mod.PollingConfig,
    "share": config_mod.ShareConfig,
    "": Config,
}


def _doc(st: Setting, value: Any) -> dict[str, Any]:
    table = {**st.given, st.name: value}
    return table if not st.section else {st.section: table}


def _read_back(cfg: Config, st: Setting) -> Any:
    return getattr(getattr(cfg, st.section) if st.section else cfg, st.name)


def _cases(st: Setting) -> list[tuple[str, Any, bool]]:
    assert st.lo is not None and st.hi is not None, f"{st.key}: give both limits"
    if st.kind == "int":
        lo, hi = int(st.lo), int(st.hi)
        cases = [("below", lo - st.step, False), ("bottom", lo, True)]
        cases += [("top", hi, True), ("above", hi + st.step, False)]
        if st.step > 1:
            cases += [("off-step", lo + 1, False)]
        return cases
    return [
        ("below", math.nextafter(st.lo, -math.inf), False),
        ("bottom", float(st.lo), True),
        ("top", float(st.hi), True),
        ("above", math.nextafter(st.hi, math.inf), False),
    ]


TABLE = [
    pytest.param(st, value, ok, id=f"{st.key}-{case}")
    for st in BOUNDED
    for case, value, ok in _cases(st)
]


def test_every_bounded_setting_has_the_reviewed_limits():
    got = {s.key: (s.lo, s.hi, s.step) for s in BOUNDED}
    assert got == LIMITS


@pytest.mark.parametrize(("st", "value", "ok"), TABLE)
def test_boundary_table(st: Setting, value: Any, ok: bool):
    doc = _doc(st, value)
    if ok:
        assert _read_back(parse_config(doc, {}), st) == value
    else:
        with pytest.raises(ConfigError) as err:
            parse_config(doc, {})
        assert err.value.key == st.key
        assert st.allowed() in str(err.value)


@pytest.mark.parametrize("st", [s for s in SETTINGS if s.kind == "float"], ids=lambda s: s.key)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_with_the_key(st: Setting, value: float):
    with pytest.raises(ConfigError) as err:
        parse_config(_doc(st, value), {})
    assert err.value.key == st.key and "must be a number from" in str(err.value)


@pytest.mark.parametrize("st", [s for s in SETTINGS if s.kind == "int"], ids=lambda s: s.key)
@pytest.mark.parametrize("value", [1.0, True, "1", [1], 2**80])
def test_int_settings_refuse_other_types_and_huge_numbers(st: Setting, value: Any):
    with pytest.raises(ConfigError) as err:
        parse_config(_doc(st, value), {})
    assert err.value.key == st.key


@pytest.mark.parametrize("st", [s for s in SETTINGS if s.choices], ids=lambda s: s.key)
def test_choice_settings_take_each_choice_and_refuse_others(st: Setting):
    for choice in st.choices:
        doc, env = _doc(st, choice), {}
        if st.key == "source" and choice == "follow":  # a follower names its primary and key
            doc["share"] = {"primary_url": "http://192.0.2.1:8765"}
            env = {"NEEDLEDROP_SHARE_KEY": "k" * 32}
        assert _read_back(parse_config(doc, env), st) == choice
    with pytest.raises(ConfigError) as err:
        parse_config(_doc(st, "not-a-choice"), {})
    assert err.value.key == st.key and repr(st.choices[-1]) in str(err.value)


@pytest.mark.parametrize("st", SETTINGS, ids=lambda s: s.key)
def test_defaults_of_the_records_are_the_defined_defaults(st: Setting):
    record = SECTIONS[st.section]
    fields = {f.name: f for f in dataclasses.fields(record)}
    assert fields[st.name].default == st.default
    assert type(st.default) is (float if st.kind == "float" else type(st.default))
    assert st.check(st.default) == st.default  # a default the validation itself would refuse


def test_every_scalar_field_of_the_records_is_defined_once():
    # paths, hosts, times, URLs, the key from the environment: own checks
    special = {"png_dir", "emulator_host", "start", "end", "bind", "primary_url", "key"}
    defined = {(s.section, s.name) for s in SETTINGS}
    assert len(defined) == len(SETTINGS)
    for section, record in SECTIONS.items():
        if not section:
            continue
        names = {f.name for f in dataclasses.fields(record)} - special
        assert {(section, n) for n in names} <= defined, section


def test_parallel_above_three_needs_the_compute_module_mapping():
    with pytest.raises(ConfigError) as err:
        parse_config({"matrix": {"parallel": 4}}, {})
    assert err.value.key == "matrix.parallel" and "compute-module" in str(err.value)
    assert parse_config({"matrix": {"parallel": 3}}, {}).matrix.parallel == 3


def test_backoff_max_below_backoff_min_names_both():
    with pytest.raises(ConfigError) as err:
        parse_config({"polling": {"backoff_min_s": 10, "backoff_max_s": 5}}, {})
    assert err.value.key == "polling.backoff_max_s" and "backoff_min_s" in str(err.value)


def test_a_lone_backoff_minimum_above_the_default_maximum_is_named():
    with pytest.raises(ConfigError) as err:
        parse_config({"polling": {"backoff_min_s": 301}}, {})
    assert err.value.key == "polling.backoff_min_s"
    assert "at most polling.backoff_max_s (300.0, the default)" in str(err.value)
