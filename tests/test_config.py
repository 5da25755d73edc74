"""Config validation: unknown keys and bad values are errors naming the key."""

from pathlib import Path

import pytest

from clauselens.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = '[[models]]\nname = "m"\nid = "builtin:clauselens-xs"\n'


def write(tmp_path, text):
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


def test_quickstart_config_is_valid():
    cfg = load_config(ROOT / "examples" / "quickstart.toml")
    assert len(cfg.models) >= 3
    assert cfg.strategies.enabled() == ["fft", "lora", "qlora"]
    assert len(cfg.config_hash()) == 16


@pytest.mark.parametrize(
    "text, needle",
    [
        (MINIMAL + "[strategies.lora]\nrank = 4\n", "strategies.lora.rank: unknown key"),
        (MINIMAL + "[strategies.lora]\nr = 0\n", "strategies.lora.r: Input should be greater than 0"),
        (MINIMAL + "[attribution]\nmethod = 'magic'\n", "attribution.method"),
        ("name = 'x'\n", "models: Field required"),
        (MINIMAL + "[[models]]\nname = 'm'\nid = 'x'\n", "model names must be unique"),
        (MINIMAL + "seeds = [\n", "not valid TOML"),
    ],
)
def test_bad_configs_name_the_key(tmp_path, text, needle):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert needle in str(err.value)
    assert str(tmp_path / "c.toml") in str(err.value)


def test_missing_dataset_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="data.source: dataset file not found: .*nope.csv"):
        load_config(write(tmp_path, MINIMAL + "[data]\nsource = 'nope.csv'\n"))


def test_overrides_apply_and_change_the_hash(tmp_path):
    p = write(tmp_path, MINIMAL)
    a = load_config(p)
    b = load_config(p, {"attribution.method": "shapley"})
    assert b.attribution.method == "shapley"
    assert a.config_hash() != b.config_hash()
