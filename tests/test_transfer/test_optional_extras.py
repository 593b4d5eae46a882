"""``import colorssl`` without mmdet / mmsegmentation, and the error a detection or
segmentation config gives there: it names the colorssl extra to install.

The absence is simulated in a subprocess (``sys.modules['mmdet'] = None`` makes every
``import mmdet...`` fail and ``importlib.util.find_spec('mmdet')`` return None), so
these tests run in the full environment too.
"""
import os
import subprocess
import sys
import textwrap

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


def test_import_and_configs_without_mmdet_and_mmseg(tmp_path):
    """``import colorssl`` registers everything and loads no mmdet/mmseg module;
    ``load_config`` on a det/seg config (``mmdet::`` bases, a detection default
    scope, an ``mmseg.`` type) raises an ImportError naming the extra."""
    (tmp_path / 'scope_only.py'
     ).write_text("default_scope = 'mmdet'\nmodel = dict(type='FasterRCNN')\n")
    (tmp_path / 'seg_type.py').write_text(
        "default_scope = 'mmpretrain'\n"
        "model = dict(type='ImageClassifier', head=dict(type='mmseg.FCNHead'))\n")
    cases = [(DET_CONFIG, 'det'), (SEG_CONFIG, 'seg'),
             (tmp_path / 'scope_only.py', 'det'), (tmp_path / 'seg_type.py', 'seg')]
    code = textwrap.dedent(f'''\
        import importlib.util, sys
        assert importlib.util.find_spec('mmdet') is None
        try:
            import mmseg  # noqa: F401
        except ImportError:
            pass
        else:
            raise SystemExit('the blocker did not block mmseg')
        import colorssl
        from colorssl.utils.config_checks import colorssl_type_names, load_config
        names = colorssl_type_names()
        assert {{'ColorizationPretrained', 'HNCLinearClsHead'}} <= names, names
        loaded = sorted(m for m in sys.modules
                        if m.split('.')[0] in ('mmdet', 'mmseg')
                        and sys.modules[m] is not None)
        assert not loaded, loaded
        print('IMPORT-OK')
        for path, extra in {[(str(p), e) for p, e in cases]!r}:
            try:
                load_config(path)
            except ImportError as err:
                message = str(err)
                assert path in message, message
                assert f"pip install 'colorssl[{{extra}}]'" in message, message
                print('NAMED', extra, type(err).__name__)
            else:
                raise SystemExit(f'{{path}} loaded without mmdet/mmseg')
        ''')
    proc = run_blocked(code, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    lines = proc.stdout.splitlines()
    assert 'IMPORT-OK' in lines, proc.stdout[-3000:]
    named = [line for line in lines if line.startswith('NAMED')]
    assert named == [f'NAMED {extra} ImportError' for _, extra in cases], proc.stdout


def test_train_tool_names_the_extra(tmp_path):
    """What a user sees: ``tools/train.py`` on a detection config ends with the
    ImportError naming the extra, before building anything."""
    proc = run_blocked('', tmp_path, [
        sys.executable, REPO_ROOT / 'tools' / 'train.py', DET_CONFIG, '--work-dir',
        tmp_path / 'work'
    ])
    assert proc.returncode != 0
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith('ImportError') and str(DET_CONFIG) in last, last
    assert "pip install 'colorssl[det]'" in last, last
    assert not (tmp_path / 'work').exists()


def test_stock_configs_need_no_extra():
    """An mmpretrain config passes the extras check in any environment."""
    from colorssl.utils.config_checks import read_config
    cfg = read_config(
        str(REPO_ROOT / 'configs' / 'hnc' /
            'hnc-kd_resnet18_1xb128-10e_cifar10mini.py'))
    assert cfg.default_scope == 'mmpretrain'
