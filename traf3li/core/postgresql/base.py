"""django-tenants' PostgreSQL backend, plus the work a transaction owes at commit (ADR 0030).

Every way a transaction or savepoint ends passes through here: the owed flushes
(``traf3li.core.commit_work``) run right before COMMIT, or before the release of the outermost
savepoint inside a TestCase's wrapper, and are forgotten by ROLLBACK and ROLLBACK TO SAVEPOINT.
"""

from contextlib import contextmanager

from django.contrib.contenttypes.models import ContentType
from django.db.backends.postgresql.base import ServerBindingCursor
from django_tenants.postgresql_backend import base as tenants
from psycopg import ClientCursor

from traf3li.core.commit_work import base_depth, commit_work_flush, commit_work_mark, commit_work_rewind


class _Statement:
    """What Django's query log reads of an execution (``cursor._query.query``), which psycopg
    leaves unset for a prepared one: the statement with its values, made only when read."""

    def __init__(self, cursor, query, params):
        self.cursor, self.sql, self.params = cursor, query, params

    @property
    def query(self) -> bytes:
        return ClientCursor(self.cursor.connection).mogrify(self.sql, self.params).encode()


class PreparedCursor(ServerBindingCursor):
    """Binds on the server, and prepares each statement that has parameters (ADR 0070)."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        result = super().execute(query, params, prepare=params is not None, binary=binary)
        if self._query is None:
            self._query = _Statement(self, query, params)
        return result


class DatabaseWrapper(tenants.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        self.commit_work = {}
        self._commit_work_marks = {}
        self._prepared_cursor = False
        super().__init__(*args, **kwargs)

    @contextmanager
    def prepared_cursor(self):
        """A cursor like ``cursor()`` (the firm's search_path, logged and counted, errors translated)
        whose statements with parameters are parsed and planned once per connection, then executed
        by name (ADR 0070). For a hot read written out in SQL; the ORM's statements stay as they are.
        With ``DB_PREPARED_STATEMENTS=0`` (a pooler that can't keep them) it binds on the server but
        prepares nothing."""
        self._prepared_cursor = True
        try:
            cursor = self.cursor()
        finally:
            self._prepared_cursor = False
        with cursor:
            yield cursor

    def create_cursor(self, name=None):
        if not (self._prepared_cursor and name is None):
            return super().create_cursor(name)
        # Django's own cursor set-up (its timezone loader), on a cursor of the prepared kind.
        factory, self.connection.cursor_factory = self.connection.cursor_factory, PreparedCursor
        try:
            return super().create_cursor(name)
        finally:
            self.connection.cursor_factory = factory

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

    def set_tenant(self, tenant, include_public=True):
        """As django-tenants', but a connection whose search_path is already this firm's keeps it:
        no ``SET search_path`` per request to the same firm (the cache is still forgotten on ROLLBACK,
        ROLLBACK TO SAVEPOINT and close, where PostgreSQL may have dropped the setting).

        The content types it has cached are kept the same way. django-tenants forgets them on every
        call because each schema numbers its own, but when the schema stays the same their ids are
        still this schema's. Forgetting them cost each write a content type query per request."""
        kept = self.search_path_set_schemas
        same = getattr(self, "tenant", None) is not None and self.schema_name == tenant.schema_name
        types = dict(ContentType.objects._cache) if same else None
        super().set_tenant(tenant, include_public)
        if kept is not None and kept == self._get_cursor_search_paths():
            self.search_path_set_schemas = kept
        if types:
            ContentType.objects._cache.update(types)

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
