"""mmengine checkpoint data loads with torch's default (weights-only) ``torch.load``
once colorssl is imported, and code-carrying pickles are still refused."""
import os
import pickle
import pickletools
import zipfile

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

import colorssl  # noqa: F401  (installs the checkpoint compatibility patch)
from colorssl.utils.checkpoint_compat import patch_mmengine_checkpoints, safe_globals

DTYPES = [
    'bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64',
    'float16', 'float32', 'float64', 'complex64', 'complex128'
]


def _filled_buffer():
    buf = HistoryBuffer(max_length=5)
    for i, value in enumerate([0.5, 1.5, 4.0, -2.0, 3.25, 7.0, 1.0]):
        buf.update(value, count=i + 1)  # 7 updates: the first 2 fall out
    return buf


def _pickle_globals(path):
    """``module.name`` of every global the checkpoint's pickle refers to."""
    with zipfile.ZipFile(path) as zf:
        (name, ) = [n for n in zf.namelist() if n.endswith('data.pkl')]
        ops = list(pickletools.genops(zf.read(name)))
    found, strings = set(), []
    for op, arg, _ in ops:
        if op.name == 'GLOBAL':  # protocol 2, torch.save's default
            found.add(arg.replace(' ', '.'))
        elif isinstance(arg, str):
            strings.append(arg)
        elif op.name == 'STACK_GLOBAL':  # protocol >= 4: module, name pushed before
            found.add(f'{strings[-2]}.{strings[-1]}')
    return found


def test_checkpoint_with_history_buffer_and_numpy_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {dt: (rng.integers(0, 400, size=(2, 3)) / 4).astype(dt) for dt in DTYPES}
    scalars = dict(
        f64=np.float64(0.25),
        f32=np.float32(-1.5),
        i64=np.int64(7),
        u8=np.uint8(200),
        b=np.bool_(True))
    buf = _filled_buffer()
    ckpt = dict(
        state_dict={'w': torch.arange(6.).reshape(2, 3)},
        meta=dict(iter=6, seed=0, dtype=np.dtype('float32')),
        arrays=arrays,
        scalars=scalars,
        dtypes=[np.dtype(d) for d in DTYPES],
        history=buf)
    path = tmp_path / 'ckpt.pth'
    torch.save(ckpt, path)

    loaded = torch.load(path)  # no weights_only argument: the torch default

    torch.testing.assert_close(loaded['state_dict']['w'], ckpt['state_dict']['w'])
    assert loaded['meta']['dtype'] == np.dtype('float32')
    for dt, arr in arrays.items():
        assert loaded['arrays'][dt].dtype == arr.dtype
        np.testing.assert_array_equal(loaded['arrays'][dt], arr)
    for key, value in scalars.items():
        assert type(loaded['scalars'][key]) is type(value)
        assert loaded['scalars'][key] == value
    assert loaded['dtypes'] == [np.dtype(d) for d in DTYPES]

    # The buffer's data state survives; only code-free globals were written.
    restored = loaded['history']
    assert type(restored) is HistoryBuffer
    for mine, theirs in zip(restored.data, buf.data):
        np.testing.assert_array_equal(mine, theirs)
    assert restored.max_length == buf.max_length
    assert not any(
        g.startswith(('builtins.', 'posix.', 'os.')) or 'getattr' in g
        for g in _pickle_globals(path)), _pickle_globals(path)


def test_history_buffer_statistics_after_round_trip(tmp_path):
    buf = _filled_buffer()
    torch.save({'buf': buf}, tmp_path / 'buf.pth')
    restored = torch.load(tmp_path / 'buf.pth')['buf']

    values, counts = np.array([4.0, -2.0, 3.25, 7.0, 1.0]), np.arange(3, 8)
    np.testing.assert_array_equal(restored.data[0], values)
    np.testing.assert_array_equal(restored.data[1], counts)
    # The statistics methods are registered on the class, not in the pickle.
    assert restored.mean() == pytest.approx(values.sum() / counts.sum())
    assert restored.mean(2) == pytest.approx(values[-2:].sum() / counts[-2:].sum())
    assert restored.max() == 7.0 and restored.min() == -2.0
    assert restored.current() == 1.0
    assert restored.statistics('mean') == restored.mean()
    restored.update(10.0, count=1)  # still a working buffer
    np.testing.assert_array_equal(restored.data[0], [-2.0, 3.25, 7.0, 1.0, 10.0])


def test_message_hub_state_round_trips(tmp_path):
    hub = MessageHub.get_instance('colorssl_test_checkpoint_compat')
    for loss in (0.9, 0.7, 0.4):
        hub.update_scalar('train/loss', loss)
    hub.update_info('iter', 3)
    torch.save({'message_hub': hub.state_dict()}, tmp_path / 'hub.pth')
    state = torch.load(tmp_path / 'hub.pth')['message_hub']

    other = MessageHub.get_instance('colorssl_test_checkpoint_compat_restored')
    other.load_state_dict(state)
    assert other.get_info('iter') == 3
    assert other.get_scalar('train/loss').mean() == pytest.approx(2.0 / 3)


class _RunsShell:
    """A pickle payload that would run a shell command when unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


class _StockHistoryBuffer:
    """A HistoryBuffer as stock mmengine pickles it: its state carries the
    statistics methods, i.e. functions (pickled through ``builtins.getattr``)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        buf = _filled_buffer()
        # stock state: the instance dict plus a name -> method mapping
        methods = dict(mean=HistoryBuffer.mean, current=HistoryBuffer.current)
        state = dict(vars(buf), statistics_methods=methods)
        return (HistoryBuffer, (), state)


@pytest.mark.parametrize('payload', [_RunsShell, _StockHistoryBuffer])
def test_code_carrying_pickle_is_refused(tmp_path, payload):
    # Also shows that plain torch.load is weights-only here (torch >= 2.6).
    marker = tmp_path / 'was_run'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': payload(marker)}, path)
    with pytest.raises(pickle.UnpicklingError, match='Weights only load failed'):
        torch.load(path)
    assert not marker.exists()


def test_allowlist_holds_data_types_only():
    allowed = safe_globals()
    assert HistoryBuffer in allowed
    for obj in allowed:
        assert obj.__module__.startswith(('numpy', 'mmengine.logging')), obj
        assert obj not in (getattr, eval, exec, os.system, pickle.loads)
    getstate = HistoryBuffer.__getstate__
    patch_mmengine_checkpoints()  # idempotent: a second call changes nothing
    assert HistoryBuffer.__getstate__ is getstate
    assert HistoryBuffer.__getstate__(
        _filled_buffer()).keys() == {'max_length', '_log_history', '_count_history'}
