"""The ABA's UTBMS litigation code set, carried as data (``billing/data/utbms_codes.json``, source named
in it), and the rule for which codes an invoice item takes.

A time item takes a litigation task code (L110 … L530, not a phase such as L100) and an activity code
(A101 … A111). An expense item takes an expense code (E101 … E124) as its ``activity_code``: the code
of what was spent sits where a time item's says what was done, as LEDES puts expense and activity
codes side by side; its ``task_code`` may name the task it was spent on. Other items may carry a task
and an activity code, and any code given must be one of the set.
"""

import json
from functools import cache
from pathlib import Path

from django.utils.translation import gettext_lazy as _

from billing.choices import ItemType

DATA = Path(__file__).resolve().parent / "data" / "utbms_codes.json"

ERROR_TASK_REQUIRED = _("A time item needs a UTBMS task code (L110 to L530).")
ERROR_ACTIVITY_REQUIRED = _("A time item needs a UTBMS activity code (A101 to A111).")
ERROR_EXPENSE_REQUIRED = _("An expense item needs a UTBMS expense code (E101 to E124) as its activity code.")
ERROR_NOT_TASK = _("'{code}' is not a UTBMS litigation task code (L110 to L530).")
ERROR_NOT_ACTIVITY = _("'{code}' is not a UTBMS activity code (A101 to A111).")
ERROR_NOT_EXPENSE = _("'{code}' is not a UTBMS expense code (E101 to E124): an expense takes an E-code.")
ERROR_EXPENSE_ON_NON_EXPENSE = _("'{code}' is an expense code; only an expense item takes one.")


@cache
def code_set() -> dict[str, dict[str, str]]:
    """``{"tasks": {code: name}, "phases": {…}, "activities": {…}, "expenses": {…}}``."""
    data = json.loads(DATA.read_text(encoding="utf-8"))
    return {
        "phases": {phase["code"]: phase["name"] for phase in data["phases"]},
        "tasks": {task["code"]: task["name"] for phase in data["phases"] for task in phase["tasks"]},
        "activities": {code["code"]: code["name"] for code in data["activities"]},
        "expenses": {code["code"]: code["name"] for code in data["expenses"]},
    }


def code_name(code: str) -> str:
    """The ABA's name for ``code``, or "" for an unknown or empty one."""
    for codes in code_set().values():
        if code in codes:
            return codes[code]
    return ""


def item_code_errors(*, type: str, task_code: str, activity_code: str) -> dict[str, str]:
    """Why an item's codes don't fit its type, by field; {} when they do."""
    codes, errors = code_set(), {}
    task_code, activity_code = (task_code or "").strip().upper(), (activity_code or "").strip().upper()
    if task_code and task_code not in codes["tasks"]:
        errors["task_code"] = ERROR_NOT_TASK.format(code=task_code)
    if type == ItemType.EXPENSE:
        if not activity_code:
            errors["activity_code"] = ERROR_EXPENSE_REQUIRED
        elif activity_code not in codes["expenses"]:
            errors["activity_code"] = ERROR_NOT_EXPENSE.format(code=activity_code)
        return errors
    if activity_code in codes["expenses"]:
        errors["activity_code"] = ERROR_EXPENSE_ON_NON_EXPENSE.format(code=activity_code)
    elif activity_code and activity_code not in codes["activities"]:
        errors["activity_code"] = ERROR_NOT_ACTIVITY.format(code=activity_code)
    if type == ItemType.TIME:
        if not task_code:
            errors["task_code"] = ERROR_TASK_REQUIRED
        if not activity_code:
            errors["activity_code"] = ERROR_ACTIVITY_REQUIRED
    return errors
