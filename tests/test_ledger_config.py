"""The `ledger` section: where its database and spool go by default (next to the config file; the
XDG state folder for the built-in config; none for a config built in code), `${ENV}` in the URL,
and the password never in the config's repr or a dump."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from llmgateway.config import ConfigError, load_config, parse_config
from llmgateway.config.defaults import default_config
from llmgateway.ledger.database import create_engine

MINIMAL = "providers: [{name: echo, type: echo}]\nmodels: [{name: echo, deployments: [{provider: echo, model: echo}]}]\n"


def test_a_config_file_gets_its_ledger_beside_it(tmp_path: Path) -> None:
    folder = tmp_path / "with $dollar"  # a literal path, not a ${VAR} reference
    folder.mkdir()
    (folder / "gateway.yaml").write_text(MINIMAL)
    ledger = load_config(folder / "gateway.yaml", env={}).ledger
    assert ledger.active
    assert ledger.url is not None
    assert ledger.url.get_secret_value() == f"sqlite:///{folder.resolve()}/llmgateway.db"
    assert ledger.spool_dir == folder / "llmgateway-spool"
    assert ledger.migrates_on_start


def test_a_relative_spool_dir_is_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "gateway.yaml").write_text(MINIMAL + "ledger: {spool_dir: spool, enabled: false}\n")
    ledger = load_config(tmp_path / "gateway.yaml", env={}).ledger
    assert ledger.spool_dir == tmp_path / "spool"
    assert not ledger.active


def test_the_built_in_config_keeps_its_ledger_in_the_state_folder(tmp_path: Path) -> None:
    ledger = default_config(env={"XDG_STATE_HOME": str(tmp_path)}).ledger
    assert ledger.url is not None
    assert ledger.url.get_secret_value() == f"sqlite:///{tmp_path.resolve()}/llmgateway/llmgateway.db"
    assert ledger.spool_dir == tmp_path / "llmgateway" / "llmgateway-spool"
    home = default_config(env={"HOME": str(tmp_path)}).ledger
    assert home.spool_dir == tmp_path / ".local" / "state" / "llmgateway" / "llmgateway-spool"


def test_a_config_built_in_code_has_no_ledger_unless_given_a_url() -> None:
    assert not parse_config({}, env={}).ledger.active


def test_a_server_url_takes_its_password_from_the_environment_and_never_shows_it(tmp_path: Path) -> None:
    (tmp_path / "gateway.yaml").write_text(
        MINIMAL + "ledger: {url: 'postgresql+psycopg://gw:${DB_PASSWORD}@db.internal/ledger'}\n"
    )
    config = load_config(tmp_path / "gateway.yaml", env={"DB_PASSWORD": "hunter2-x9"})
    ledger = config.ledger
    assert ledger.url is not None
    assert ledger.url.get_secret_value() == "postgresql+psycopg://gw:hunter2-x9@db.internal/ledger"
    assert not ledger.migrates_on_start  # a server database: `llmgateway db upgrade` as a deploy step
    assert "hunter2-x9" not in repr(config) + str(config.model_dump())


def test_a_ledger_folder_that_cannot_be_made_is_one_clear_error(tmp_path: Path) -> None:
    # The image's user has no home: an unwritable state folder must stop `serve` with one line
    # naming the folder, not a traceback (a file where the folder should be fails even for root).
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    config = parse_config({"ledger": {"url": f"sqlite:///{blocker}/ledger/llmgateway.db"}})
    with pytest.raises(
        ConfigError, match=r"ledger\.url: cannot create .*not-a-folder/ledger: Not a directory"
    ):
        create_engine(config.ledger)


def test_the_state_dir_variable_moves_the_ledger_of_a_config_file_and_the_built_in_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config" / "gateway.yaml"
    path.parent.mkdir()
    path.write_text(MINIMAL)
    state = tmp_path / "state"
    for config in (
        load_config(path, {"LLMGW_STATE_DIR": str(state)}),
        default_config({"LLMGW_STATE_DIR": str(state)}),
    ):
        assert config.ledger.url is not None
        assert config.ledger.url.get_secret_value() == f"sqlite:///{state / 'llmgateway.db'}"
        assert config.ledger.spool_dir == state / "llmgateway-spool"


def test_serve_stops_with_one_line_when_the_ledger_cannot_write(tmp_path: Path) -> None:
    # A read-only config mount in a container: here a file where the ledger's folder should be
    # (root ignores permissions, not a file in the way).
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    path = tmp_path / "gateway.yaml"
    path.write_text(MINIMAL + yaml.safe_dump({"ledger": {"spool_dir": str(blocker / "spool")}}))
    done = subprocess.run(
        [sys.executable, "-m", "llmgateway", "serve", "--config", str(path), "--listen", "127.0.0.1:0",
         "--http-listen", "", "--metrics-listen", "", "--workers", "1"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert f"ledger: {blocker / 'spool'}: Not a directory" in done.stderr
