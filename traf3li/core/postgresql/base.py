"""django-tenants' PostgreSQL backend, plus the work a transaction owes at commit (ADR 0030).

Every way a transaction or savepoint ends passes through here: the owed flushes
(``traf3li.core.commit_work``) run right before COMMIT, or before the release of the outermost
savepoint inside a TestCase's wrapper, and are forgotten by ROLLBACK and ROLLBACK TO SAVEPOINT.
"""

from django_tenants.postgresql_backend import base as tenants

from traf3li.core.commit_work import base_depth, commit_work_flush, commit_work_mark, commit_work_rewind


class DatabaseWrapper(tenants.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        self.commit_work = {}
        self._commit_work_marks = {}
        super().__init__(*args, **kwargs)

    def commit(self):
        if not self.get_autocommit():
            commit_work_flush(self)
        self._commit_work_marks.clear()
        super().commit()

    def rollback(self):
        commit_work_rewind(self, None)
        self._commit_work_marks.clear()
        super().rollback()

    def close(self):
        commit_work_rewind(self, None)
        self._commit_work_marks.clear()
        super().close()

    def savepoint(self):
        sid = super().savepoint()
        if sid is not None:
            self._commit_work_marks[sid] = commit_work_mark(self)
        return sid

    def savepoint_rollback(self, sid):
        try:
            super().savepoint_rollback(sid)
        finally:
            commit_work_rewind(self, self._commit_work_marks.pop(sid, {}))
            self._commit_work_marks[sid] = None  # released next, with nothing to flush

    def savepoint_commit(self, sid):
        depth = base_depth(self)
        rolled_back = self._commit_work_marks.get(sid, {}) is None
        if depth and len(self.atomic_blocks) == depth and not rolled_back:
            # The outermost real block inside a TestCase's wrapper: its end stands for COMMIT.
            commit_work_flush(self, committing=False)
        self._commit_work_marks.pop(sid, None)
        super().savepoint_commit(sid)
