import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse


def healthz(request):
    """``{"db": "ok", "redis": "ok"|"down"}``: 200 while the database is up, 503 when it is not."""
    body = {"db": "ok", "redis": "ok"}
    status = 200
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        body["db"], status = "down", 503
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1).ping()
    except Exception:
        body["redis"] = "down"
    return JsonResponse(body, status=status)
