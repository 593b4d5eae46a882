"""Config loading and runner building with errors that name the file and the fix.

The tools in ``tools/`` serve configs whose ``default_scope`` is mmpretrain, mmdet or
mmseg. They call :func:`load_config` and :func:`build_runner` so a user gets:

* a missing config file -> ``FileNotFoundError`` naming the path;
* a config that uses a colorssl type without ``custom_imports`` -> ``ValueError`` naming
  the types and the exact line to add (stock OpenMMLab tools would otherwise fail with
  a bare registry ``KeyError``);
* an unknown ``type`` -> ``KeyError`` naming the type, the config file and what to
  check;
* a detection / segmentation config without mmdet / mmsegmentation installed ->
  ``ImportError`` naming the colorssl extra that brings it (``colorssl[det]``,
  ``colorssl[seg]``).
"""
import contextlib
import importlib.util
import os.path as osp
import re
from typing import Iterable, List, Optional, Set, Tuple

from mmengine.config import Config

CUSTOM_IMPORTS_HINT = ("custom_imports = dict(imports=['colorssl'], "
                       "allow_failed_imports=False)")


def colorssl_type_names() -> Set[str]:
    """Names of every class colorssl registered in the OpenMMLab registries
    (mmengine's root registries and those of mmpretrain, mmdet and mmseg)."""
    from mmengine.registry import Registry

    import colorssl  # noqa: F401  (registers the modules)

    names = set()
    for package in ('mmengine.registry', 'mmpretrain.registry', 'mmdet.registry',
                    'mmseg.registry'):
        try:
            module = importlib.import_module(package)
        except (ImportError, AssertionError):  # not installed / wrong mmcv
            continue
        for value in vars(module).values():
            if not isinstance(value, Registry):
                continue
            for name, obj in value.module_dict.items():
                if getattr(obj, '__module__', '').startswith('colorssl'):
                    names.add(name)
    return names


def _typed_dicts(node, path: str = '') -> Iterable[Tuple[str, dict]]:
    """Yield ``(path, dict)`` for every dict with a string ``type`` in a (nested)
    config; ``path`` is its dotted key (``'head'``, ``'custom_hooks[0]'``)."""
    if isinstance(node, dict):
        if isinstance(node.get('type'), str):
            yield path, node
        for name, value in node.items():
            yield from _typed_dicts(value, f'{path}.{name}' if path else name)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _typed_dicts(value, f'{path}[{i}]')


def _iter_types(node) -> Iterable[str]:
    """Yield every string ``type`` value in a (nested) config."""
    return (d['type'] for _, d in _typed_dicts(node))


def check_custom_imports(cfg: Config, filename: str) -> None:
    """Fail when ``cfg`` uses colorssl types but does not import colorssl.

    Our own tools import colorssl anyway, but such a config would break under the
    stock OpenMMLab tools, so it is rejected here with the line to add.
    """
    imports = (cfg.get('custom_imports') or {}).get('imports', [])
    if isinstance(imports, str):
        imports = [imports]
    if any(m == 'colorssl' or m.startswith('colorssl.') for m in imports):
        return
    ours = colorssl_type_names()
    used = sorted({
        t.split('.')[-1]
        for t in _iter_types(cfg._cfg_dict.to_dict()) if t.split('.')[-1] in ours
    })
    if used:
        raise ValueError(
            f'{filename} uses colorssl types {used} but does not import colorssl. '
            f'Add this line to the config:\n    {CUSTOM_IMPORTS_HINT}')


def check_color_prior_hook(cfg: Config, filename: str) -> None:
    """Fail before training when a ``ColorizationHead`` estimates its prior
    (``prior='auto'``, the head's default) but ``custom_hooks`` has no
    ``ColorPriorHook`` to estimate it.

    Without this check (stock tools) the head fails at the first loss, before any
    update, with the same advice.
    """
    model = cfg.get('model')
    if not isinstance(model, dict):
        return
    tree = model.to_dict() if hasattr(model, 'to_dict') else model
    auto = [
        path for path, d in _typed_dicts(tree)
        if d['type'].split('.')[-1] == 'ColorizationHead'
        and d.get('prior', 'auto') == 'auto'
    ]
    if not auto:
        return
    hooks = list(cfg.get('custom_hooks') or [])
    if any(t.split('.')[-1] == 'ColorPriorHook' for t in _iter_types(hooks)):
        return
    raise ValueError(
        f"{filename}: model.{auto[0]}.prior is 'auto' (the head's default) but "
        "custom_hooks has no dict(type='ColorPriorHook') to estimate the colour "
        'prior from the training data. Add it to custom_hooks (the colorization '
        "runtime config has it; a config that sets custom_hooks replaces that list), "
        'or set model.head.prior to a prior file or None')


#: Optional OpenMMLab packages: import name -> (pip distribution, colorssl extra).
OPTIONAL_PACKAGES = {
    'mmdet': ('mmdet', 'det'),
    'mmseg': ('mmsegmentation', 'seg'),
}


def is_available(module: str) -> bool:
    """Whether ``module`` can be imported here (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_extra_error(module: str, needed_by: str) -> ImportError:
    """The error for a use of optional ``module`` (a key of
    :data:`OPTIONAL_PACKAGES`) that is not installed, naming the extra."""
    dist, extra = OPTIONAL_PACKAGES[module]
    return ImportError(
        f"{needed_by} needs {dist}, which is not installed in this environment: "
        f"pip install 'colorssl[{extra}]' (or 'colorssl[all]'); {dist} also needs "
        'the compiled mmcv, not mmcv-lite')


def _package_of_scope(scope: str) -> Optional[str]:
    """``'mmdet'`` for ``'mmdet'`` or ``'mmdet.models'``; None for others."""
    return next((m for m in OPTIONAL_PACKAGES if scope.split('.')[0] == m), None)


def check_extras(cfg: Config, filename: str) -> None:
    """Raise :func:`missing_extra_error` when ``cfg`` needs mmdet or mmseg
    (its ``default_scope``, or a ``type='mmdet.X'`` / ``'mmseg.X'``) and that
    package is not installed."""
    needed = {}
    scope = cfg.get('default_scope')
    if isinstance(scope, str) and _package_of_scope(scope):
        needed.setdefault(_package_of_scope(scope), f"default_scope={scope!r}")
    for obj_type in _iter_types(cfg._cfg_dict.to_dict()):
        module = _package_of_scope(obj_type) if '.' in obj_type else None
        if module:
            needed.setdefault(module, f'type={obj_type!r}')
    for module, why in sorted(needed.items()):
        if not is_available(module):
            raise missing_extra_error(module, f'{filename} ({why})')


def read_config(filename: str) -> Config:
    """``Config.fromfile`` with a missing file or a missing optional package
    (an ``mmdet::`` / ``mmseg::`` base config, a detection default scope)
    reported by name."""
    if not osp.isfile(filename):
        raise FileNotFoundError(
            f'config file not found: {filename!r} (expected a path to a .py config, '
            'e.g. configs/colorization/...)')
    try:
        cfg = Config.fromfile(filename)
    except ModuleNotFoundError as err:
        # mmengine, for a ``_base_`` in an uninstalled package: "<dist> is not
        # installed, please install <dist> manually"
        text = str(err)
        module = next((m for m, (dist, _) in OPTIONAL_PACKAGES.items()
                       if re.search(rf'\b({m}|{dist})\b', text)), None)
        if module is None or is_available(module):
            raise
        raise missing_extra_error(module, f'{filename} (_base_ {module}::...)') from err
    check_extras(cfg, filename)
    return cfg


def load_config(filename: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config file (:func:`read_config`), merge ``--cfg-options`` and
    check its imports."""
    cfg = read_config(filename)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    check_custom_imports(cfg, filename)
    return cfg


# mmengine: "X is not in the mmpretrain::model registry". ``str(KeyError)`` quotes
# its message, and when X is built inside another module (a backbone inside a
# classifier) the message is nested in the outer error's text: X has no quotes.
_NOT_IN_REGISTRY = re.compile(r'([^\s\'"`]+) is not in the ([^\s\'"`]+) registry')


def explain_registry_error(err: KeyError, filename: str) -> Optional[KeyError]:
    """Turn mmengine's "X is not in the Y registry" into an actionable error."""
    match = _NOT_IN_REGISTRY.search(str(err))
    if match is None:
        return None
    obj_type, registry = match.group(1), match.group(2)
    return KeyError(
        f'{filename}: unknown type {obj_type!r} (looked up in the {registry} '
        'registry). Check the spelling; a type from another OpenMMLab package needs '
        "its scope prefix (e.g. 'mmdet.FasterRCNN', 'mmseg.FCNHead', "
        "'mmpretrain.ResNet'); a colorssl type needs " + CUSTOM_IMPORTS_HINT)


@contextlib.contextmanager
def registry_errors_named(filename: str):
    """Re-raise mmengine registry ``KeyError``s with the config file named.

    Needed around ``runner.train()`` too: datasets, hooks and metrics are built lazily.
    """
    try:
        yield
    except KeyError as err:
        better = explain_registry_error(err, filename)
        if better is None:
            raise
        raise better from err


def build_runner(cfg: Config, filename: str):
    """Build the runner ``cfg`` asks for (``runner_type`` or mmengine's Runner).

    A torchrun job on a machine without a GPU gets a gloo process group first
    (see :mod:`colorssl.utils.cpu_dist`).
    """
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    from .cpu_dist import prepare_cpu_distributed
    prepare_cpu_distributed(cfg, filename)
    with registry_errors_named(filename):
        if 'runner_type' in cfg:
            return RUNNERS.build(cfg)
        return Runner.from_cfg(cfg)


def add_common_args(parser) -> None:
    """The arguments every tool shares: ``--work-dir``, ``--cfg-options``,
    ``--launcher`` and ``--local-rank``."""
    from mmengine.config import DictAction
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, key=value pairs, e.g. '
        'train_dataloader.batch_size=8')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local_rank, torchrun sets LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def apply_common_args(cfg: Config, args) -> Config:
    """Apply :func:`add_common_args`'s launcher and work dir to ``cfg``."""
    import os
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    return cfg


__all__: List[str] = [
    'CUSTOM_IMPORTS_HINT', 'OPTIONAL_PACKAGES', 'is_available', 'missing_extra_error',
    'check_extras', 'read_config', 'colorssl_type_names', 'check_custom_imports',
    'check_color_prior_hook', 'load_config', 'explain_registry_error', 'build_runner',
    'registry_errors_named', 'add_common_args', 'apply_common_args'
]
