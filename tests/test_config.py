from pathlib import Path

import pytest

from watchfloor.config import load_settings
from watchfloor.errors import ConfigError


def test_data_dir_precedence(tmp_path: Path) -> None:
    env = {"WATCHFLOOR_HOME": str(tmp_path / "env")}
    assert load_settings(tmp_path / "flag", env).data_dir == (tmp_path / "flag").resolve()
    assert load_settings(None, env).data_dir == (tmp_path / "env").resolve()
    assert load_settings(None, {}).data_dir == Path(".watchfloor").resolve()


def test_toml_then_env_then_flags(tmp_path: Path) -> None:
    (tmp_path / "watchfloor.toml").write_text('api_port = 9000\nhec_tokens = ["a", "b"]\n')
    assert load_settings(tmp_path, {}).api_port == 9000
    assert load_settings(tmp_path, {}).hec_tokens == ("a", "b")
    assert load_settings(tmp_path, {"WATCHFLOOR_API_PORT": "9100"}).api_port == 9100
    assert load_settings(tmp_path, {"WATCHFLOOR_API_PORT": "9100"}, api_port=9200).api_port == 9200


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "watchfloor.toml").write_text("api_port = \n")
    with pytest.raises(ConfigError, match=r"watchfloor\.toml"):
        load_settings(tmp_path, {})
    (tmp_path / "watchfloor.toml").write_text('api_port = "x"\n')
    with pytest.raises(ConfigError, match="api_port"):
        load_settings(tmp_path, {})
