"""model-index.yml and the metafiles list every config, and only configs that exist."""
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]


def load_yaml(path: Path):
    with open(path, encoding='utf-8') as f:
        return yaml.safe_load(f)


@pytest.fixture(scope='module')
def index():
    """(metafile paths, collections by name, models) gathered from model-index.yml."""
    root = load_yaml(REPO_ROOT / 'model-index.yml')
    assert set(root) == {'Import'}, 'model-index.yml should only import metafiles'
    metafiles = [REPO_ROOT / p for p in root['Import']]
    collections, models = {}, []
    for path in metafiles:
        assert path.is_file(), f'model-index.yml imports a missing file: {path}'
        meta = load_yaml(path)
        unknown = set(meta) - {'Collections', 'Models'}
        assert not unknown, f'{path}: unexpected top-level keys {sorted(unknown)}'
        for coll in meta.get('Collections') or []:
            assert coll['Name'] not in collections, \
                f'{path}: collection {coll["Name"]} defined twice'
            collections[coll['Name']] = coll
        models += [(path, m) for m in meta.get('Models') or []]
    return metafiles, collections, models


def config_files():
    """Every config under configs/ except the shared bases in configs/_base_/."""
    return sorted(
        p.relative_to(REPO_ROOT).as_posix()
        for p in (REPO_ROOT / 'configs').rglob('*.py')
        if '_base_' not in p.parts and '__pycache__' not in p.parts)


def test_every_metafile_is_imported(index):
    metafiles, _, _ = index
    on_disk = sorted((REPO_ROOT / 'configs').rglob('metafile.yml'))
    assert sorted(metafiles) == on_disk


def test_every_config_is_listed_once(index):
    _, _, models = index
    listed = [m['Config'] for _, m in models]
    duplicates = sorted({c for c in listed if listed.count(c) > 1})
    assert not duplicates, f'configs listed twice: {duplicates}'
    missing = sorted(set(config_files()) - set(listed))
    assert not missing, ('configs missing from the metafiles (add them to '
                         f'configs/<folder>/metafile.yml): {missing}')


def test_every_listed_config_exists_and_is_named_after_it(index):
    _, _, models = index
    for path, model in models:
        config = REPO_ROOT / model['Config']
        assert config.is_file(), f'{path}: {model["Name"]} lists a missing {config}'
        assert model['Name'] == config.stem, \
            f'{path}: Name {model["Name"]} is not the config name {config.stem}'
        assert config.parent.relative_to(REPO_ROOT / 'configs').parts[0] == \
            path.parent.name, f'{path} lists {config}, a config of another folder'


def test_models_follow_the_format(index):
    _, collections, models = index
    names = [m['Name'] for _, m in models]
    assert len(names) == len(set(names))
    for coll in collections.values():
        assert (REPO_ROOT / coll['README']).is_file(), coll['README']
    for path, model in models:
        where = f'{path}: {model["Name"]}'
        assert model['In Collection'] in collections, f'{where}: unknown collection'
        assert 'Training Data' in model['Metadata'], where
        results = model['Results']
        assert results is None or isinstance(results, list), where
        for result in results or []:
            assert set(result) == {'Task', 'Dataset', 'Metrics'}, where
            assert result['Metrics'] and all(
                isinstance(v, (int, float)) for v in result['Metrics'].values()), where
        if 'Weights' in model:
            assert model['Weights'], f'{where}: empty Weights (omit the key instead)'


def test_configs_read_data_under_the_openmmlab_convention():
    """Configs point at ``data/<name>/`` (what users have), never at ``../shared``."""
    offenders = [
        str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / 'configs').rglob('*.py')
        if '../shared' in p.read_text()
    ]
    assert not offenders, offenders
