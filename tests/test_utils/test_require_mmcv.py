"""``import colorssl`` without mmcv names both ways to install it (mmcv-lite or the
compiled mmcv). The absence is simulated in a subprocess: a ``sitecustomize`` first on
``PYTHONPATH`` sets ``sys.modules['mmcv'] = None`` before anything is imported."""
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_import_without_mmcv_names_both_builds(tmp_path):
    (tmp_path /
     'sitecustomize.py').write_text("import sys\nsys.modules['mmcv'] = None\n")
    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO_ROOT)]))
    code = ('try:\n    import colorssl\nexcept ImportError as err:\n'
            '    print("ImportError:", err)\nelse:\n    print("imported")\n')
    proc = subprocess.run([sys.executable, '-c', code],
                          cwd=str(tmp_path),
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert out.startswith('ImportError: colorssl needs mmcv'), out + proc.stderr[-2000:]
    assert "'mmcv-lite>=2.0.0,<2.2.0'" in out and 'mim install "mmcv' in out
