"""``import colorssl`` without mmdet / mmsegmentation, and the error a detection or
segmentation config gives there: it names the package to install.

The absence is simulated in a subprocess (``sys.modules['mmdet'] = None`` makes every
``import mmdet...`` fail and ``importlib.util.find_spec('mmdet')`` return None), so
these tests run in the full environment too.
"""
import os
import re
import subprocess
import sys
import textwrap

import pytest
from transfer_helpers import REPO_ROOT

BENCH = REPO_ROOT / 'configs' / 'benchmarks'
DET_CONFIG = (
    BENCH / 'mmdetection' /
    'faster-rcnn_r18-w32_fpn_colorization-pre_1xb2-0.8k_raccoon.py')
SEG_CONFIG = (
    BENCH / 'mmsegmentation' /
    'fcn_r18-w32-d16_colorization-pre_1xb4-0.8k_camvidmini-192x192.py')

BLOCKER = textwrap.dedent('''\
    import sys
    for _name in ('mmdet', 'mmseg'):
        sys.modules[_name] = None  # "import mmdet" -> ModuleNotFoundError
    ''')


def run_blocked(code: str, tmp_path, args=()) -> subprocess.CompletedProcess:
    """Run ``code`` (or, with ``args``, a command) with mmdet and mmseg blocked.

    The blocker is a ``sitecustomize`` module first on ``PYTHONPATH``, so it is in
    place before anything else is imported, tools included.
    """
    (tmp_path / 'sitecustomize.py').write_text(BLOCKER)
    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        MKL_NUM_THREADS='1',
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO_ROOT)]))
    command = list(args) if args else [sys.executable, '-c', code]
    return subprocess.run([str(a) for a in command],
                          cwd=str(tmp_path),
                          env=env,
                          stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT,
                          text=True,
                          timeout=300)


def test_import_without_mmdet_and_mmseg(tmp_path):
    """``import colorssl`` registers everything and loads no mmdet/mmseg module."""
    code = textwrap.dedent('''\
        import importlib.util, sys
        assert importlib.util.find_spec('mmdet') is None
        try:
            import mmseg  # noqa: F401
        except ImportError:
            pass
        else:
            raise SystemExit('the blocker did not block mmseg')
        import colorssl
        from mmpretrain.registry import MODELS, WEIGHT_INITIALIZERS
        assert MODELS.get('HNCLinearClsHead') is not None
        assert WEIGHT_INITIALIZERS.get('ColorizationPretrained') is not None
        loaded = sorted(m for m in sys.modules
                        if m.split('.')[0] in ('mmdet', 'mmseg')
                        and sys.modules[m] is not None)
        assert not loaded, loaded
        print('IMPORT-OK')
        ''')
    proc = run_blocked(code, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert 'IMPORT-OK' in proc.stdout.splitlines(), proc.stdout[-3000:]


@pytest.mark.parametrize('config,package', [(DET_CONFIG, 'mmdet'),
                                            (SEG_CONFIG, 'mmseg')])
def test_train_tool_names_the_package(tmp_path, config, package):
    """What a user sees: ``tools/train.py`` on a detection or segmentation config
    stops with an ImportError naming the package, before building anything (the
    config's ``custom_imports`` name ``mmdet.models`` / ``mmseg.models``)."""
    proc = run_blocked('', tmp_path, [
        sys.executable, REPO_ROOT / 'tools' / 'train.py', config, '--work-dir',
        tmp_path / 'work'
    ])
    assert proc.returncode != 0
    assert re.search(rf'(ImportError|ModuleNotFoundError): .*\b{package}\b',
                     proc.stdout), proc.stdout[-3000:]
    assert not (tmp_path / 'work').exists()
