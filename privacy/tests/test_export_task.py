"""Large exports: made by a task into the firm's own directory, fetched by a signed link that expires."""

import io
import json
import shutil
import time
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core import signing
from django.utils import timezone
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from audit.models import AuditEvent
from conftest import api_client_for, make_user
from messaging.tests.conftest import redis_down  # noqa: F401 - a fixture
from privacy import export
from privacy.tasks import privacy_exports_sweep_task
from privacy.tests.factories import EMAIL, NAME, person_everywhere
from timeline.selectors import entry_subject_view
from traf3li.celery import app
from traf3li.core.subjects import SubjectRef
from traf3li.crm import services as crm
from traf3li.crm.models import Contact, Lead
from traf3li.users.models import User

URL = "/api/v1/privacy/export/"


@pytest.fixture(autouse=True)
def exports_root(settings, tmp_path, monkeypatch):
    """Each test's files in a directory of its own; tasks run here as they are queued (no worker)."""
    settings.PRIVACY_EXPORT_ROOT = tmp_path / "privacy-exports"
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    return settings.PRIVACY_EXPORT_ROOT


def queued(api, subject, **query) -> dict:
    response = api.get(URL, {"subject": subject, **query})
    assert response.status_code == 202, response.content
    body = response.json()
    assert response["Location"] == body["status_url"]
    return body


def relative(url: str) -> str:
    """The path of an absolute URL the API answered (``http://alpha.localhost/api/...``)."""
    return "/" + url.split("/", 3)[3]


def download(url: str, host: str = "alpha.localhost"):
    return APIClient(HTTP_HOST=host).get(relative(url))


def test_a_large_subject_is_queued_and_its_link_downloads_the_zip(firm_a, admin_a, api_a, settings, exports_root):
    with schema_context(firm_a.schema_name):
        world = person_everywhere(actor=admin_a)
        entries = entry_subject_view(SubjectRef("contact", world.contact.pk)).count()
    assert entries >= 2
    # given a threshold below the person's entries
    settings.PRIVACY_EXPORT_INLINE_MAX_ENTRIES = entries - 1
    # when exported
    body = queued(api_a, f"contact:{world.contact.pk}", format="zip")
    # then the task made it (eagerly here) and the status URL gives a download URL
    assert body["subject"] == f"contact:{world.contact.pk}" and body["format"] == "zip"
    status = api_a.get(relative(body["status_url"]))
    assert status.status_code == 200, status.content
    status = status.json()
    assert status["status"] == "done" and status["download_url"].startswith("http://alpha.localhost/")
    assert timezone.now() + timedelta(hours=23) < _at(status["expires_at"]) <= timezone.now() + timedelta(hours=24)
    # the link is the key: no token needed, the zip and its manifest as the inline answer has them
    response = download(status["download_url"])
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert response["Cache-Control"] == "no-store"
    content = b"".join(response.streaming_content)
    assert len(content) == status["size"]
    archive = zipfile.ZipFile(io.BytesIO(content))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["subject"] == {"type": "contact", "id": world.contact.pk, "name": NAME}
    contacts = json.loads(archive.read("data/crm.Contact.json"))
    assert [(row["name"], row["email"]) for row in contacts if row["id"] == world.contact.pk] == [(NAME, EMAIL)]
    # the file sits in the firm's own directory, outside what WhiteNoise serves
    directory = exports_root / firm_a.schema_name / body["id"]
    assert (directory / "export.zip").is_file() and (directory / "status.json").is_file()
    assert Path(django_settings.STATIC_ROOT) not in Path(django_settings.PRIVACY_EXPORT_ROOT).parents
    # the status file holds the subject's reference, not their data
    assert NAME not in (directory / "status.json").read_text()
    with schema_context(firm_a.schema_name):
        event = AuditEvent.objects.filter(action="export", entity_type="contact", entity_id=world.contact.pk).get()
    assert event.actor_id == admin_a.pk


def _at(value: str):
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_the_threshold_and_the_opt_in(firm_a, admin_a, api_a, settings, exports_root):
    with schema_context(firm_a.schema_name):
        world = person_everywhere(actor=admin_a)
        entries = entry_subject_view(SubjectRef("contact", world.contact.pk)).count()
    subject = f"contact:{world.contact.pk}"
    settings.PRIVACY_EXPORT_INLINE_MAX_ENTRIES = entries  # exactly at the limit: still in the request
    inline = api_a.get(URL, {"subject": subject})
    assert inline.status_code == 200 and inline.json()["data"]["crm.Contact"][0]["name"] == NAME
    assert not exports_root.exists()
    # async=true asks for the task even for a small subject; the JSON format is kept
    body = queued(api_a, subject, **{"async": "true"})
    assert body["format"] == "json" and body["status"] == "done"
    response = download(body["download_url"])
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    stored = json.loads(b"".join(response.streaming_content))
    assert set(inline.json()["data"]) <= set(stored["data"])
    assert stored["data"]["crm.Contact"] == inline.json()["data"]["crm.Contact"]


@pytest.mark.parametrize(
    "query",
    [{"async": "maybe"}, {"subject": "lead:999999999"}, {"subject": "widget:1"}, {"subject": "case:{case}"},
    ],
)  # fmt: skip
def test_bad_input_on_the_task_path_is_a_400_and_stores_nothing(firm_a, admin_a, api_a, exports_root, query):
    with schema_context(firm_a.schema_name):
        world = person_everywhere(actor=admin_a)
        events = AuditEvent.objects.count()
    query = {"subject": f"contact:{world.contact.pk}", "async": "true", **query}
    query["subject"] = query["subject"].format(case=world.case.pk)
    response = api_a.get(URL, query)
    assert response.status_code == 400, response.content
    assert set(response.json()) & {"subject", "async", "format"}
    assert not exports_root.exists()
    with schema_context(firm_a.schema_name):
        assert AuditEvent.objects.count() == events


def test_the_link_works_on_its_firms_host_only_and_is_not_guessable(
    firm_a, firm_b, admin_a, admin_b, api_a, api_b, lawyer_a, exports_root
):
    with schema_context(firm_a.schema_name):
        world = person_everywhere(actor=admin_a)
    body = queued(api_a, f"contact:{world.contact.pk}", format="zip", **{"async": "true"})
    link = relative(body["download_url"])
    token = link.rstrip("/").rsplit("/", 1)[1]
    # firm B's host: the same link, anonymous or with firm B's admin, finds nothing
    for client in (APIClient(HTTP_HOST="beta.localhost"), api_b):
        response = client.get(link)
        assert response.status_code == 404 and NAME not in response.content.decode(errors="replace")
    # firm A's token on firm B's host is refused before anything else
    a_token_on_b = api_client_for(firm_b)
    a_token_on_b.credentials(HTTP_AUTHORIZATION=api_a._credentials["HTTP_AUTHORIZATION"])
    assert a_token_on_b.get(link).status_code == 401
    assert a_token_on_b.get(relative(body["status_url"])).status_code == 401
    # the status URL: firm A's admins only; firm B's admin doesn't find firm A's id
    assert api_b.get(relative(body["status_url"])).status_code == 404
    assert api_client_for(firm_a, lawyer_a).get(relative(body["status_url"])).status_code == 403
    assert APIClient(HTTP_HOST="alpha.localhost").get(relative(body["status_url"])).status_code in (401, 403)
    # a link signed for firm B (by the key itself) doesn't open firm A's file on firm B's host, nor
    # does one with a changed character, one signed with another key or one with another salt
    for forged in (
        signing.dumps({"schema": "beta", "id": body["id"]}, salt=export.SALT),
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        signing.dumps({"schema": "alpha", "id": body["id"]}, salt=export.SALT, key="not-the-secret-key"),
        signing.dumps({"schema": "alpha", "id": body["id"]}, salt="another.salt"),
        body["id"],
    ):
        assert APIClient(HTTP_HOST="beta.localhost").get(f"{URL}download/{forged}/").status_code == 404
        assert APIClient(HTTP_HOST="alpha.localhost").get(f"{URL}download/{forged}/").status_code == 404
    # two exports of the same person have unrelated ids and links
    again = queued(api_a, f"contact:{world.contact.pk}", **{"async": "true"})
    assert again["id"] != body["id"] and len(again["id"]) == 32
    # and the real link still works on firm A's host
    assert download(body["download_url"]).status_code == 200


def test_each_firms_files_are_in_its_own_directory(firm_a, firm_b, admin_a, admin_b, api_a, api_b, exports_root):
    with schema_context(firm_a.schema_name):
        a = person_everywhere(actor=admin_a)
    with schema_context(firm_b.schema_name):
        b_contact = crm.record_create(instance=Contact(name="Basma Al Ghamdi", email="basma@example.sa"), actor=admin_b)
    body_a = queued(api_a, f"contact:{a.contact.pk}", **{"async": "true"})
    body_b = queued(api_b, f"contact:{b_contact.pk}", **{"async": "true"})
    assert {p.name for p in (exports_root / "alpha").iterdir()} == {body_a["id"]}
    assert {p.name for p in (exports_root / "beta").iterdir()} == {body_b["id"]}
    # each firm's status URL finds only its own export
    assert api_a.get(f"{URL}{body_b['id']}/").status_code == 404
    assert api_b.get(f"{URL}{body_a['id']}/").status_code == 404
    assert api_a.get(f"{URL}{body_a['id']}/").json()["id"] == body_a["id"]
    # ids that are not ids reach no file (no path is built from what a caller sent)
    for bad in ("..", "..%2Fbeta", "%2E%2E", "alpha", body_a["id"].upper(), body_a["id"][:-1]):
        assert api_a.get(f"{URL}{bad}/").status_code == 404


def test_the_link_and_the_file_expire(firm_a, admin_a, api_a, settings, exports_root):
    with schema_context(firm_a.schema_name):
        world = person_everywhere(actor=admin_a)
    body = queued(api_a, f"contact:{world.contact.pk}", **{"async": "true"})
    directory = exports_root / "alpha" / body["id"]
    # the link's age counts from when it was signed: past its lifetime it is a 410, and no file
    settings.PRIVACY_EXPORT_EXPIRY_SECONDS = 1
    time.sleep(2.1)
    response = download(body["download_url"])
    assert response.status_code == 410 and "expired" in response.json()["detail"]
    settings.PRIVACY_EXPORT_EXPIRY_SECONDS = 24 * 3600
    assert download(body["download_url"]).status_code == 200
    # the file's own expiry: once past, the status URL and the link find nothing, and the file went
    _expire(directory)
    assert download(body["download_url"]).status_code == 410
    assert not directory.exists()
    assert download(body["download_url"]).status_code == 404
    assert api_a.get(relative(body["status_url"])).status_code == 404


def _expire(directory: Path) -> None:
    status = json.loads((directory / "status.json").read_text())
    status["expires_at"] = (timezone.now() - timedelta(seconds=1)).isoformat()
    (directory / "status.json").write_text(json.dumps(status))


def test_the_sweep_deletes_expired_exports_of_its_firm_only(firm_a, firm_b, admin_a, admin_b, api_a, api_b):
    with schema_context(firm_a.schema_name):
        world = person_everywhere(actor=admin_a)
    with schema_context(firm_b.schema_name):
        b_contact = crm.record_create(instance=Contact(name="Basma Al Ghamdi"), actor=admin_b)
    old, new = (queued(api_a, f"contact:{world.contact.pk}", **{"async": "true"}) for _ in range(2))
    foreign = queued(api_b, f"contact:{b_contact.pk}", **{"async": "true"})
    root = Path(django_settings.PRIVACY_EXPORT_ROOT)
    _expire(root / "alpha" / old["id"])
    _expire(root / "beta" / foreign["id"])
    with schema_context(firm_a.schema_name):
        assert privacy_exports_sweep_task.apply().get() == {"kept": 1, "requeued": 0}
    assert [p.name for p in (root / "alpha").iterdir()] == [new["id"]]
    assert (root / "beta" / foreign["id"]).is_dir()  # firm B's sweep deletes firm B's
    assert "privacy-exports-sweep" in __import__("traf3li.beat", fromlist=["BEAT_SCHEDULE"]).BEAT_SCHEDULE


@pytest.mark.usefixtures("redis_down")
def test_with_the_broker_down_the_export_waits_and_the_sweep_queues_it(firm_a, admin_a, api_a, monkeypatch, caplog):
    with schema_context(firm_a.schema_name):
        world = person_everywhere(actor=admin_a)
    monkeypatch.setitem(app.conf, "task_always_eager", False)
    body = queued(api_a, f"contact:{world.contact.pk}", **{"async": "true"})
    assert body["status"] == "pending" and "could not queue privacy export" in caplog.text
    directory = Path(django_settings.PRIVACY_EXPORT_ROOT) / "alpha" / body["id"]
    with schema_context(firm_a.schema_name):
        monkeypatch.setitem(app.conf, "task_always_eager", True)
        assert privacy_exports_sweep_task.apply().get() == {"kept": 1, "requeued": 0}  # not stale yet
        status = json.loads((directory / "status.json").read_text())
        status["requested_at"] = (timezone.now() - export.STALE_PENDING - timedelta(seconds=1)).isoformat()
        (directory / "status.json").write_text(json.dumps(status))
        assert privacy_exports_sweep_task.apply().get() == {"kept": 1, "requeued": 1}
    assert api_a.get(relative(body["status_url"])).json()["status"] == "done"


def test_an_erasure_deletes_the_persons_stored_exports_when_it_commits(
    firm_a, admin_a, api_a, exports_root, django_capture_on_commit_callbacks
):
    with schema_context(firm_a.schema_name):
        world = person_everywhere(actor=admin_a)
        other = crm.record_create(instance=Contact(name="Hind Al Harbi", email="hind@example.sa"), actor=admin_a)
    body = queued(api_a, f"contact:{world.contact.pk}", format="zip", **{"async": "true"})
    kept = queued(api_a, f"contact:{other.pk}", **{"async": "true"})
    # the export lists the person's stored exports (their content is the rest of the export)
    listed = api_a.get(URL, {"subject": f"contact:{world.contact.pk}"}).json()["data"]["privacy.StoredExport"]
    assert [row["id"] for row in listed] == [body["id"]] and listed[0]["status"] == "done"
    with django_capture_on_commit_callbacks(execute=True):
        response = api_a.post("/api/v1/privacy/erase/", {"subject": f"contact:{world.contact.pk}"}, format="json")
    assert response.status_code == 200, response.content
    assert not (exports_root / "alpha" / body["id"]).exists()
    assert download(body["download_url"]).status_code == 404
    assert (exports_root / "alpha" / kept["id"] / "export.json").is_file()  # another person's stays


def test_a_task_whose_export_went_makes_nothing(firm_a, admin_a, exports_root):
    """Erased (or expired) between the request and the task: the task finds no directory and writes none."""
    with schema_context(firm_a.schema_name):
        world = person_everywhere(actor=admin_a)
        stored = export.StoredExport(
            id="0" * 32, subject=f"contact:{world.contact.pk}", format="zip", requested_by=admin_a.pk,
            requested_at=timezone.now(), expires_at=timezone.now() + timedelta(hours=1),
        )  # fmt: skip
        stored.save(create=True)
        _expire(stored.directory)
        assert export.export_run(stored.id) == "gone"
        assert not stored.directory.exists()
        assert export.export_run("1" * 32) == "gone"
        assert not (exports_root / "alpha" / ("1" * 32)).exists()
        # deleted by an erasure while the task loaded it: the task's next write doesn't bring it back
        stored.save(create=True)
        loaded = export.export_load(stored.id)
        shutil.rmtree(stored.directory)
        loaded.status = export.RUNNING
        with pytest.raises(export._Gone):
            loaded.save()
        assert not stored.directory.exists()
        # nor does a task that finds the record deleted: it makes nothing and drops the export
        lead = crm.record_create(instance=Lead(name="Gone Lead"), actor=admin_a)
        stored.subject = f"lead:{lead.pk}"
        stored.save(create=True)
        Lead.objects.filter(pk=lead.pk).delete()
        assert export.export_run(stored.id) == "gone"
        assert not stored.directory.exists()
        assert not AuditEvent.objects.filter(action="export").exists()


@pytest.mark.slow
def test_a_real_worker_makes_the_export_in_the_firms_schema(scratch_firm, settings, tmp_path):
    """As tests/test_celery_worker.py: a worker on a queue of its own, the export's file in the
    scratch firm's directory, made from that firm's rows (they really commit there)."""
    import os
    import subprocess
    import sys
    import uuid

    from django.db import connection

    root = Path(__file__).resolve().parents[2]
    settings.PRIVACY_EXPORT_ROOT = tmp_path / "privacy-exports"
    admin = User.objects.filter(role="admin").first() or make_user(
        scratch_firm, f"admin-{uuid.uuid4().hex[:6]}", "admin"
    )
    contact = crm.record_create(instance=Contact(name="Worker Witness", email="worker@example.sa"), actor=admin)
    stored = export.StoredExport(
        id=uuid.uuid4().hex, subject=f"contact:{contact.pk}", format="zip", requested_by=admin.pk,
        requested_at=timezone.now(), expires_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip
    stored.save(create=True)
    queue = f"test-{uuid.uuid4().hex[:8]}"
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "PRIVATE_ROOT": str(tmp_path),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "traf3li", "worker", "--pool=solo", "-Q", queue, "-l", "warning"],
        cwd=root,
        env=env,
    )
    try:
        from privacy.tasks import privacy_export_task

        privacy_export_task.apply_async((stored.id,), queue=queue)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (export.export_load(stored.id) or stored).status != export.DONE:
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(timeout=10)
    done = export.export_load(stored.id)
    assert done is not None and done.status == export.DONE
    assert done.file == tmp_path / "privacy-exports" / scratch_firm.schema_name / stored.id / "export.zip"
    archive = zipfile.ZipFile(done.file)
    assert json.loads(archive.read("manifest.json"))["subject"]["name"] == "Worker Witness"
    assert AuditEvent.objects.filter(action="export", entity_type="contact", entity_id=contact.pk).exists()


def _race_subject(firm):
    import uuid

    tag = uuid.uuid4().hex[:8]
    admin = make_user(firm, f"race_{tag}", role="admin")
    name = f"Race Witness {tag}"
    contact = crm.record_create(instance=Contact(name=name, email=f"race-{tag}@example.sa"), actor=admin)
    stored = export.StoredExport(
        id=uuid.uuid4().hex, subject=f"contact:{contact.pk}", format="zip", requested_by=admin.pk,
        requested_at=timezone.now(), expires_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip
    stored.save(create=True)
    return admin, name, contact, stored


def _in_thread(firm, outcome, key, work):
    import threading

    from django.db import connection

    def run():
        try:
            connection.set_tenant(firm)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                outcome[f"{key}_pid"] = cursor.fetchone()[0]
            outcome[key] = work()
        except Exception as error:  # noqa: BLE001 - the test reads it
            outcome[key] = error
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _wait_until_locked(outcome, key):
    from conftest import waiting_on_a_lock

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (outcome.get(f"{key}_pid") and waiting_on_a_lock(outcome[f"{key}_pid"])):
        time.sleep(0.02)
    assert waiting_on_a_lock(outcome[f"{key}_pid"]), f"the {key} should wait on the person's row"


def _names_in_files(root: Path, name: str) -> list[str]:
    found = []
    for path in root.rglob("export.zip"):
        archive = zipfile.ZipFile(path)
        found += [f"{path}:{member}" for member in archive.namelist() if name in archive.read(member).decode()]
    return found


def test_an_erasure_waits_for_a_running_export_and_its_commit_deletes_the_file(
    scratch_firm, settings, tmp_path, monkeypatch
):
    import threading

    from privacy import services

    settings.PRIVACY_EXPORT_ROOT = tmp_path / "privacy-exports"
    admin, name, contact, stored = _race_subject(scratch_firm)
    exported, release, outcome = threading.Event(), threading.Event(), {}
    original = services.subject_export

    def held(**kwargs):  # the export has read the person (under FOR SHARE) and waits to write its file
        result = original(**kwargs)
        exported.set()
        release.wait(timeout=20)
        return result

    monkeypatch.setattr(services, "subject_export", held)
    exporting = _in_thread(scratch_firm, outcome, "export", lambda: export.export_run(stored.id))
    assert exported.wait(timeout=20)
    erasing = _in_thread(
        scratch_firm, outcome, "erasure", lambda: services.subject_erase(subject=f"contact:{contact.pk}", actor=admin)
    )
    _wait_until_locked(outcome, "erasure")
    release.set()
    exporting.join(timeout=30)
    erasing.join(timeout=30)
    assert outcome["export"] == "done", outcome
    assert isinstance(outcome["erasure"], dict), outcome
    # the file the export wrote went with the erasure's commit
    assert not stored.directory.exists() and _names_in_files(tmp_path, name) == []
    assert Contact.objects.get(pk=contact.pk).name == "[erased]"


def test_an_export_that_starts_during_an_erasure_never_writes_the_erased_data(scratch_firm, settings, tmp_path):
    from django.db import transaction

    from privacy import services

    settings.PRIVACY_EXPORT_ROOT = tmp_path / "privacy-exports"
    admin, name, contact, stored = _race_subject(scratch_firm)
    outcome = {}
    with transaction.atomic():
        Contact.objects.select_for_update().get(pk=contact.pk)  # the erasure's first lock
        exporting = _in_thread(scratch_firm, outcome, "export", lambda: export.export_run(stored.id))
        _wait_until_locked(outcome, "export")
        services.subject_erase(subject=f"contact:{contact.pk}", actor=admin)
    exporting.join(timeout=30)
    # the export waited; it found its directory gone (the erasure's commit) or read what it left
    assert outcome["export"] in ("gone", "done"), outcome
    assert _names_in_files(tmp_path, name) == []
