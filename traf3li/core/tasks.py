import logging

from celery import shared_task
from django.db import connection

logger = logging.getLogger(__name__)


@shared_task
def heartbeat_task() -> str:
    logger.info("heartbeat from schema %s", connection.schema_name)
    return connection.schema_name
