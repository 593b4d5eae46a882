"""Fixtures every test folder shares: what a test needs from outside the repository.

Real datasets for development live in ``../shared/data`` beside the repository root
(see docs/development.md); users of the package do not have them. The configs read
OpenMMLab's ``data/<name>/``: ``shared_data`` links ``data/<name>`` to the shared
folder when it is absent. A test that needs
them, or an optional package (mmdet, mmseg), is skipped when they are absent, and
fails instead under ``CI=true``, where the environment must be complete.
"""
import importlib.util
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / 'shared' / 'data'
IN_CI = os.environ.get('CI', '').lower() == 'true'


def _absent(msg: str) -> None:
    if IN_CI:
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope='session')
def shared_data():
    """``need(sub) -> Path``: the folder ``../shared/data/<sub>`` (e.g.
    ``'cifar10-mini'``), or skip / fail (CI) when it is absent. ``data/<sub>`` (the
    configs' ``data_root``) is linked to it unless it exists."""

    def need(sub: str) -> Path:
        path = SHARED_DATA / sub
        if not path.is_dir():
            _absent(f'real data {path} is absent')
        link = REPO_ROOT / 'data' / sub
        if not link.exists():
            link.parent.mkdir(exist_ok=True)
            try:
                link.symlink_to(path, target_is_directory=True)
            except FileExistsError:  # another pytest worker made it
                pass
        return path

    return need


@pytest.fixture(scope='session')
def need_package():
    """``need(module)``: skip / fail (CI) unless ``module`` can be imported."""

    def need(module: str) -> None:
        if importlib.util.find_spec(module) is None:
            _absent(f'{module} is not installed (the full environment of '
                    'tools/setup_env.sh has it)')

    return need
