"""The hierarchy registry moved to ``traf3li.core.registries`` (domain apps register there, below
the timeline); this keeps the old import path working for the timeline's tests and factories."""

from traf3li.core.registries import _PARENTS, hierarchy_ancestors, hierarchy_register

__all__ = ["_PARENTS", "hierarchy_ancestors", "hierarchy_register"]
