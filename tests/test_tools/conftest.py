"""Fixtures of the tool tests. One 6-iteration training run (``trained_run``) is
shared by the tests that only need its outputs."""
from pathlib import Path

import pytest
from tool_helpers import data_options, make_image_folder, run_tool, train_cmd


@pytest.fixture(scope='session')
def image_root(tmp_path_factory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp('imagefolder'))


@pytest.fixture(scope='session')
def trained_run(tmp_path_factory, image_root):
    """One uninterrupted run of TINY_CFG (MAX_ITERS iterations).

    Returns:
        dict: ``work_dir`` (Path) and ``output`` (the tool's stdout and stderr).
    """
    base = tmp_path_factory.mktemp('trained')
    work_dir = base / 'work'
    proc = run_tool(train_cmd(work_dir, *data_options(image_root)), cwd=base)
    return dict(work_dir=work_dir, output=proc.stdout)
