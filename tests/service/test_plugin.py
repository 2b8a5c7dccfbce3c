"""qstore-service registers ``qstore serve`` through the plugin system; the CLI refuses unsafe binds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from qstore.core.cli import main
from qstore.core.plugins import isolated_registry


def test_registers_the_serve_command_without_importing_the_server() -> None:
    with isolated_registry("qstore.service.plugin", strict=True, disabled=()) as registry:
        (record,) = registry.plugins()
        command = registry.create("command", "serve")
    assert record.registers == ("command serve",) and record.status == "ok"
    assert callable(command.configure) and callable(command.run)
    script = (
        "import sys\nfrom qstore.core.plugins import PluginRegistry\n"
        "r = PluginRegistry(strict=True, disabled=())\nr.add_plugin('qstore.service.plugin')\n"
        "r.create('command', 'serve')\n"
        "print(sorted(m for m in ('strawberry', 'uvicorn', 'starlette') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_plugins_list_shows_the_service(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["plugins", "list"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("service"))
    assert "qstore-service" in line and "command serve" in line and line.rstrip().endswith("ok")


def test_serve_refuses_a_public_bind_without_a_token(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("QSTORE_SERVICE_TOKEN", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "refusing to bind to '0.0.0.0' without a token" in err and "Traceback" not in err
