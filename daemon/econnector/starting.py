"""The one start path of the daemon: ``econnector run`` (cli) and the Windows service
(winservice) take the same steps, in the same order, so a service start never differs
from a start at the command line."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:  # importing the config pulls the daemon's dependencies (cli --version)
    from .config import Config

# Called on the event loop's thread before serving: another thread (the Windows
# service manager's) can then stop the daemon through the loop.
Started = Callable[[asyncio.AbstractEventLoop, asyncio.Event], None]


def load_config(config_path: Path | None) -> Config:
    from . import config
    from .cli import default_config_path

    return config.load(config_path or default_config_path())


def prepare(config_path: Path | None) -> Config:
    """Everything before serving; ConfigError when the daemon cannot run."""
    from . import config, crashpoints, filemodes, hardening, instancelock, logs

    crashpoints.arm()  # tests only: an unknown ECONNECTOR_CRASH_AT stops the start here
    # This process will hold passphrases: no core file, not dumpable, and nothing
    # it creates is readable by others unless given a mode on purpose (filemodes).
    hardening.harden_process()
    hardening.private_umask()
    cfg = load_config(config_path)
    hardening.forbid_env(hardening.secret_env_names(cfg))
    # A missing outbox or inbox (a share not mounted yet) is waited for, not fatal.
    problems = config.check_usable(cfg, wait_for_folders=True)
    if problems:
        raise ConfigError(problems[0])
    # One daemon per set of folders; the descriptor stays open (locked) until we exit.
    instancelock.acquire(cfg.folders.work)
    # A missing outbox or inbox is said once, by the daemon, which watches for it.
    filemodes.set_policy(filemodes.policy_for(cfg.folders, config.folder_gid(cfg)))
    try:
        rot = cfg.log_rotation
        logs.configure(cfg.log_file, cfg.log_level, max_bytes=rot.max_bytes, keep=rot.keep,
                       console=rot.console)
    except OSError as e:  # checked above; this is what changed in between
        raise ConfigError(f"cannot open the log file {cfg.log_file} ({e.strerror or e})",
                          "logging.file") from None
    return cfg


def serve(cfg: Config, started: Started | None = None) -> int:
    """Run the daemon until its stop event is set (SIGTERM, or ``started``'s caller)."""
    from . import runtime

    async def main() -> int:
        stop = asyncio.Event()
        if started is not None:
            started(asyncio.get_running_loop(), stop)
        return await runtime.serve(cfg, stop=stop)

    return asyncio.run(main())


def start_daemon(config_path: Path | None, started: Started | None = None) -> int:
    return serve(prepare(config_path), started)
