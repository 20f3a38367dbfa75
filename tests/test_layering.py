"""The layers only import downwards: ``traf3li/`` (settings, shared and domain apps) never imports a
feature app, and the audit log never imports the apps it audits. They meet through the registries
in ``traf3li.core.registries`` and the domain signals (``traf3li.crm.signals``) instead.

Tests are left out: they may drive several layers at once. So are the URL configuration's and
settings' strings (``include("timeline.api.urls")``, ``INSTALLED_APPS``): composing the apps is
their job, and they are not imports.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FEATURE_APPS = ("timeline", "billing", "messaging")
DOMAIN_APPS = ("traf3li.crm", "timeline", "billing", "messaging")
DOMAIN_LABELS = ("crm", "timeline", "activities", "events", "billing", "messaging")
RULES = {
    "traf3li": FEATURE_APPS,
    "audit": DOMAIN_APPS,
}
# Imports that still break a rule, each with the change that removes it. Empty this as they go;
# the test fails if a module listed here no longer breaks the rule (so the list can't go stale).
PENDING: dict[str, str] = {}


def _modules(package: str):
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT)
        if "tests" in relative.parts or "migrations" in relative.parts:
            continue
        yield relative


def _module_name(relative: Path) -> str:
    parts = list(relative.with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(relative: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """Every module ``relative`` imports, at any depth (function bodies too), as (line, dotted name);
    plus the app labels it reaches by string through ``apps.get_model("label", …)`` / ``"label.Model"``."""
    tree = ast.parse((root / relative).read_text(), filename=str(relative))
    package = _module_name(relative).split(".")
    if relative.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "get_model":
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                label = node.args[0].value.split(".")[0]
                found.append((node.lineno, f"app-label:{label}"))
    return found


def _breaks(name: str, forbidden: tuple[str, ...]) -> bool:
    if name.startswith("app-label:"):
        return name.removeprefix("app-label:") in DOMAIN_LABELS and "traf3li.crm" in forbidden
    return any(name == app or name.startswith(f"{app}.") for app in forbidden)


def violations() -> dict[str, list[str]]:
    found = {}
    for package, forbidden in RULES.items():
        for relative in _modules(package):
            bad = [f"line {line}: {name}" for line, name in imported_names(relative) if _breaks(name, forbidden)]
            if bad:
                found[relative.as_posix()] = bad
    return found


def test_the_layers_only_import_downwards():
    found = violations()
    unexpected = {module: names for module, names in found.items() if module not in PENDING}
    assert unexpected == {}, "these modules import a layer above them: " + repr(unexpected)
    assert set(PENDING) <= set(found), f"no longer breaking a rule, remove from PENDING: {set(PENDING) - set(found)}"


@pytest.mark.parametrize(
    ("source", "forbidden", "expected"),
    [
        ("from timeline.services import entry_record", FEATURE_APPS, True),
        ("def f():\n    import billing.models", FEATURE_APPS, True),
        ("from traf3li.crm.models import Case", DOMAIN_APPS, True),
        ("from traf3li import crm", DOMAIN_APPS, True),
        ("Case = apps.get_model('crm', 'Case')", DOMAIN_APPS, True),
        ("from traf3li.core.registries import case_of", DOMAIN_APPS, False),
        ("from timelines import x", FEATURE_APPS, False),
        ("from . import chain", DOMAIN_APPS, False),
    ],
)
def test_the_check_sees_every_kind_of_import(tmp_path, source, forbidden, expected):
    module = tmp_path / "audit" / "probe.py"
    module.parent.mkdir()
    module.write_text(source)
    names = [name for _, name in imported_names(Path("audit/probe.py"), root=tmp_path)]
    assert any(_breaks(name, forbidden) for name in names) is expected, names
