from celery import shared_task

from traf3li.users.services import api_tokens_prune


@shared_task
def api_tokens_prune_task() -> int:
    """The current firm's long-dead API tokens deleted (beat, daily, once per firm)."""
    return api_tokens_prune()
