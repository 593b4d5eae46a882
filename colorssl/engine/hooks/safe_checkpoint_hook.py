"""A ``CheckpointHook`` that deletes an old checkpoint only after the new one loads."""
import os
import os.path as osp

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """mmengine's :class:`~mmengine.hooks.CheckpointHook` in a crash-safe order.

    The stock hook removes the checkpoint beyond ``max_keep_ckpts`` before it writes
    the new one, so with ``max_keep_ckpts=1`` a kill during the save leaves none. This
    hook saves the new checkpoint, loads it back (local files, weights only), points
    ``last_checkpoint`` at it (written to a temporary file and renamed), and only then
    removes the oldest one. A kill at any moment leaves ``last_checkpoint`` naming a
    complete checkpoint, which ``--resume`` continues from. The checkpoint lists the
    step still to be removed, so mmengine removes it when such a run resumes. With
    ``save_best``, the previous best checkpoint is removed only after the new best
    one loads.

    Same arguments as :class:`~mmengine.hooks.CheckpointHook`::

        default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))
    """

    def _save_best_checkpoint(self, runner, metrics) -> None:
        if not self.save_best:
            return
        old = self._best_paths()
        self._set_best_paths({key: None for key in old})  # the stock code removes none
        super()._save_best_checkpoint(runner, metrics)
        new = self._best_paths()
        self._set_best_paths({key: new[key] or old[key] for key in old})
        for key, before in old.items():
            if new[key] and before and before != new[key] and is_main_process():
                self._check_loads(new[key])
                self._remove(before)

    def _best_paths(self) -> dict:
        """Best checkpoint path per key indicator (one key, None, for a single one)."""
        if len(self.key_indicators) > 1:
            return dict(self.best_ckpt_path_dict)
        return {None: self.best_ckpt_path}

    def _set_best_paths(self, paths: dict) -> None:
        if len(self.key_indicators) > 1:
            self.best_ckpt_path_dict = paths
        else:
            self.best_ckpt_path = paths[None]

    def _remove(self, path):
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):  # deepspeed saves folders
            self.file_backend.rmtree(path)

    @staticmethod
    def _check_loads(path):
        if osp.isfile(path):
            try:
                torch.load(path, map_location='cpu', weights_only=True, mmap=True)
            except Exception as err:
                raise RuntimeError(
                    f'the checkpoint just saved, {path}, does not load ({err}); '
                    'the previous checkpoints and last_checkpoint are kept') from err

    def _save_checkpoint_with_step(self, runner, step, meta):
        filename = self.filename_tmpl.format(step)
        path = self.file_backend.join_path(self.out_dir, filename)
        if self.last_ckpt == path and self.file_backend.exists(path):
            return  # this step is saved already (epoch end after its last iter)
        keep = self.max_keep_ckpts > 0
        dropped = None
        if keep:
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                dropped = self.keep_ckpt_ids[0]
            runner.message_hub.update_info('keep_ckpt_ids', [*self.keep_ckpt_ids, step])
        runner.message_hub.update_info('last_ckpt', path)
        runner.save_checkpoint(
            self.out_dir,
            filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        self.last_ckpt = path
        if keep:
            self.keep_ckpt_ids.append(step)  # a deque of max_keep_ckpts
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        if not is_main_process():
            return
        self._check_loads(path)
        record = osp.join(runner.work_dir, 'last_checkpoint')
        with open(record + '.tmp', 'w') as f:
            f.write(path)
        os.replace(record + '.tmp', record)
        if dropped is not None:
            self._remove(
                self.file_backend.join_path(self.out_dir,
                                            self.filename_tmpl.format(dropped)))
