"""The load harness (``manage.py loadtest``, ADR 0038): mixed traffic over real HTTP against gunicorn.

- ``driver``: the bounded async client (closed loop at N clients, open loop at a fixed rate) and the
  per-endpoint figures; it knows nothing of Django.
- ``traffic``: the firm it loads, the request mix, and the checks afterwards (every accepted write
  stored exactly once, the audit chain sound).
- ``wsgi``: the product's WSGI application plus one trivial JSON view, the framework's ceiling.
"""
