"""Checkpoints that cannot be half-written, and ``--resume`` that skips damaged ones."""
import os
import os.path as osp
import re
import string
from typing import List, Optional, Tuple

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.hooks import CheckpointHook
from mmpretrain.registry import HOOKS

from colorssl.utils.atomic_backend import ATOMIC_LOCAL
from colorssl.utils.atomic_io import atomic_write_text
from colorssl.utils.checkpoint_check import checkpoint_problem

LAST_CHECKPOINT = 'last_checkpoint'  # mmengine's record of the newest checkpoint


def _is_remote(path: str) -> bool:
    return '://' in str(path)


def _step_pattern(filename_tmpl: str) -> Optional[re.Pattern]:
    """``'iter_{}.pth'`` -> ``^iter_(\\d+)\\.pth$`` (None unless one field)."""
    parts = list(string.Formatter().parse(filename_tmpl))
    if sum(field is not None for _, field, _, _ in parts) != 1:
        return None
    regex = ''.join(
        re.escape(literal) + ('' if field is None else r'(\d+)')
        for literal, field, _, _ in parts)
    return re.compile(f'^{regex}$')


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` with crash-safe writes and a resume fallback.

    Same arguments and behaviour as :class:`mmengine.hooks.CheckpointHook`, plus:

    * **Atomic writes.** When checkpoints go to a local folder, they, the best
      checkpoint and ``last_checkpoint`` are written to a temporary file in the same
      folder and renamed into place (``backend_args=dict(backend='atomic_local')``,
      see :mod:`colorssl.utils.atomic_backend`): a crash or a full disk leaves the
      previous file or the new one, never a truncated one. Temporary files left by a
      killed run are removed when training starts. Remote ``out_dir`` (``s3://``...)
      keep their backend.
    * **Resume fallback.** Before the runner loads a checkpoint (``before_run``):

      - auto resume (``resume=True``, no ``load_from``; ``tools/train.py --resume``):
        the checkpoint named by ``work_dir/last_checkpoint`` is checked with
        :func:`colorssl.utils.checkpoint_check.checkpoint_problem`. If it, or
        ``last_checkpoint`` itself, is missing or damaged, a warning names the file
        and the reason and the run resumes from the newest checkpoint of the
        checkpoint folder that loads (by the step in its file name), saying which.
        If none loads a ``RuntimeError`` lists them. A work dir without any
        checkpoint starts afresh, as in mmengine.
      - ``resume=True`` with ``load_from=PATH`` (``--resume PATH``), or ``load_from``
        alone: a damaged local file stops the run with a ``RuntimeError`` naming it
        and the reason, instead of torch's bare zip error.

    Enable it in a config with one line (other keys of the checkpoint hook are kept)::

        default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))

    ``tools/train.py`` swaps a stock ``CheckpointHook`` for this one itself.
    """

    # ------------------------------------------------------------------ resume
    def before_run(self, runner) -> None:
        """Point the runner at a checkpoint that loads (see the class docstring)."""
        # The runner's load/resume settings have no public accessors in mmengine
        # 0.10.7; load_or_resume() reads these attributes after before_run.
        if getattr(runner, '_has_loaded', False):
            return
        resume = bool(getattr(runner, '_resume', False))
        load_from = getattr(runner, '_load_from', None)
        if resume and load_from is None:
            chosen = self._auto_resume_checkpoint(runner)
            if chosen is not None:
                runner._load_from = chosen
        elif load_from is not None and not _is_remote(load_from):
            problem = checkpoint_problem(str(load_from))
            if problem is not None:
                action = 'resume from' if resume else 'load (load_from)'
                raise RuntimeError(f'cannot {action} checkpoint {load_from}: {problem}')

    def _checkpoint_dir(self, runner) -> Optional[str]:
        """Where this hook saves checkpoints, as mmengine's ``before_train`` will
        decide (None when that is not a local folder). For use before that."""
        out_dir = self.out_dir
        if out_dir is None or out_dir == runner.work_dir:
            return runner.work_dir
        if _is_remote(out_dir):
            return None
        return osp.join(out_dir, osp.basename(runner.work_dir.rstrip(osp.sep)))

    def saved_checkpoints(self, folder: str) -> List[Tuple[int, str]]:
        """``[(step, path)]`` of the checkpoints in ``folder``, newest first."""
        pattern = _step_pattern(self.filename_tmpl)
        if pattern is None or not osp.isdir(folder):
            return []
        found = []
        for name in os.listdir(folder):
            match = pattern.match(name)
            if match and osp.isfile(osp.join(folder, name)):
                found.append((int(match.group(1)), osp.join(folder, name)))
        return sorted(found, reverse=True)

    def _auto_resume_checkpoint(self, runner) -> Optional[str]:
        """The checkpoint to resume from when ``last_checkpoint`` cannot be used.

        Returns None when mmengine's own choice (``last_checkpoint``) is fine, or
        when there is nothing to resume from.
        """
        record = osp.join(runner.work_dir, LAST_CHECKPOINT)
        named = None
        if not osp.isfile(record):
            problem = f'{record} not found'
        else:
            try:
                with open(record, encoding='utf-8') as f:
                    named = f.read().strip()
            except (OSError, UnicodeDecodeError) as err:
                problem = f'{record} cannot be read ({err})'
            else:
                if not named:
                    problem = f'{record} is empty'
                elif _is_remote(named):
                    return None  # a remote checkpoint: mmengine's business
                else:
                    reason = checkpoint_problem(named)
                    if reason is None:
                        return None  # mmengine resumes from it, as usual
                    problem = (f'the latest checkpoint {named[:300]} (named by '
                               f'{record}) cannot be loaded: {reason}')

        folder = self._checkpoint_dir(runner)
        candidates = [] if folder is None else self.saved_checkpoints(folder)
        candidates = [(step, path) for step, path in candidates
                      if named is None or osp.abspath(path) != osp.abspath(named)]
        if not candidates and named is None:
            return None  # nothing saved yet: start afresh, as mmengine does
        runner.logger.warning(f'--resume: {problem}.')
        failed = []
        for _step, path in candidates:
            reason = checkpoint_problem(path)
            if reason is None:
                runner.logger.warning(
                    f'--resume: resuming from {path} instead, the newest checkpoint '
                    f'in {folder} that loads.')
                return path
            runner.logger.warning(f'--resume: {path} cannot be loaded either: '
                                  f'{reason}.')
            failed.append(osp.basename(path))
        raise RuntimeError(
            f'--resume: no checkpoint to resume from: {problem}; ' +
            (f'none of {failed} in {folder} loads either. '
             if failed else f'no other checkpoint in {folder}. ') +
            'Resume from a good file with --resume PATH (load_from=PATH, '
            'resume=True) or train without --resume.')

    # ------------------------------------------------------------------ saving
    def before_train(self, runner) -> None:
        """Select the atomic backend for a local output folder, then as mmengine."""
        if self.file_client_args is None:
            target = self.out_dir if self.out_dir is not None else runner.work_dir
            backend = get_file_backend(target, backend_args=self.backend_args)
            if type(backend) is LocalBackend:
                self.backend_args = dict(backend=ATOMIC_LOCAL)
        super().before_train(runner)
        if is_main_process():
            self._remove_stale_temp_files(runner)

    def _remove_stale_temp_files(self, runner) -> None:
        """Delete ``.<checkpoint>.<random>.tmp`` files a killed writer left behind."""
        folders = {runner.work_dir}
        if not _is_remote(self.out_dir):  # the final folder, after before_train
            folders.add(self.out_dir)
        pattern = _step_pattern(self.filename_tmpl)
        for folder in folders:
            if not osp.isdir(folder):
                continue
            for name in os.listdir(folder):
                match = re.match(r'^\.(.+)\.[A-Za-z0-9_]+\.tmp$', name)
                if match is None:
                    continue
                target = match.group(1)
                if target == LAST_CHECKPOINT or target.startswith('best_') or (
                        pattern is not None and pattern.match(target)):
                    path = osp.join(folder, name)
                    runner.logger.warning(
                        f'removing {path}, an incomplete write of {target} left by '
                        'an interrupted run')
                    os.remove(path)

    def _save_checkpoint_with_step(self, runner, step, meta):
        """mmengine 0.10.7's method in a crash-safe order: save the checkpoint,
        check that it loads, write ``last_checkpoint`` atomically, and only then
        remove the checkpoint beyond ``max_keep_ckpts`` (mmengine removes it first
        and writes ``last_checkpoint`` with a plain ``open``)."""
        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        # _save_best_checkpoint saves a step a second time: nothing to drop then.
        new_step = self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                                    and self.keep_ckpt_ids[-1] == step)
        if new_step:
            # The checkpoint lists the step to drop too: if the run dies before
            # that file is removed, mmengine's before_train removes it on resume.
            runner.message_hub.update_info('keep_ckpt_ids', [*self.keep_ckpt_ids, step])
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if is_main_process():
            if not _is_remote(self.last_ckpt) and osp.isfile(self.last_ckpt):
                problem = checkpoint_problem(self.last_ckpt)
                if problem is not None:
                    raise RuntimeError(
                        f'the checkpoint just saved, {self.last_ckpt}, does not '
                        f'load: {problem}; the previous checkpoints and '
                        f'{LAST_CHECKPOINT} are kept')
            atomic_write_text(
                osp.join(runner.work_dir, LAST_CHECKPOINT), str(self.last_ckpt))
        if not new_step:
            return
        dropped = (
            self.keep_ckpt_ids[0]
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts else None)
        self.keep_ckpt_ids.append(step)  # a deque of max_keep_ckpts: drops the oldest
        runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        if dropped is not None and is_main_process():
            old_path = self.file_backend.join_path(self.out_dir,
                                                   self.filename_tmpl.format(dropped))
            if self.file_backend.isfile(old_path):
                self.file_backend.remove(old_path)
            elif self.file_backend.isdir(old_path):  # deepspeed
                self.file_backend.rmtree(old_path)
