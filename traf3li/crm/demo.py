"""Demo clients, contacts, organizations, leads and cases with Saudi names and numbers."""

from datetime import timedelta

from django.utils import timezone

from traf3li.crm import services
from traf3li.crm.choices import CaseStatus, LeadSource, LeadStatus
from traf3li.crm.models import Case, Client, Contact, Lead, Organization
from traf3li.users.models import User

FIRST_AR = ["محمد", "عبدالله", "فهد", "سارة", "نورة", "خالد", "ريم", "عبدالرحمن", "لمى", "سلطان", "هيا", "تركي"]
LAST_AR = ["العتيبي", "القحطاني", "الشهري", "الدوسري", "الحربي", "الغامدي", "الزهراني", "المطيري", "السبيعي"]
FIRST_EN = ["Ahmed", "Omar", "Layla", "Yousef", "Mona", "Hassan", "Dana", "Ali", "Sami", "Rania"]
LAST_EN = ["Al-Harbi", "Haddad", "Nasser", "Khalil", "Saleh", "Mansour", "Farouk", "Aziz"]
ORGS = [
    "شركة الرياض للتجارة",
    "مجموعة الخليج القابضة",
    "Najd Logistics Co.",
    "Red Sea Developments",
    "مؤسسة الأفق للمقاولات",
    "Al Noor Medical",
    "شركة جدة للتقنية",
    "Eastern Petrochem Services",
]
DIVISIONS = ["Legal department", "الإدارة القانونية", "Riyadh branch", "فرع جدة"]
CASE_TITLES = [
    "نزاع عمالي",
    "Commercial lease dispute",
    "قضية تعويض",
    "Contract breach claim",
    "تحصيل ديون",
    "Trademark infringement",
    "قضية أحوال شخصية",
    "Construction arbitration",
    "استئناف حكم تجاري",
    "Employment termination review",
]
DEMO_CLIENTS = 60


def saudi_mobile(rng) -> str:
    return f"+9665{rng.choice('0345689')}{rng.randrange(10**7):07d}"


def person_name(rng, i: int) -> str:
    if i % 2:
        return f"{rng.choice(FIRST_AR)} {rng.choice(LAST_AR)}"
    return f"{rng.choice(FIRST_EN)} {rng.choice(LAST_EN)}"


def seed(firm, rng) -> None:
    if Client.objects.exists():
        return
    lawyers = list(User.objects.filter(role__in=["lawyer", "admin"]))
    orgs = [
        services.record_create(instance=Organization(name=n, email=f"info{i}@org{i}.sa")) for i, n in enumerate(ORGS)
    ]
    today = timezone.localdate()
    for i in range(DEMO_CLIENTS):
        company = i % 5 == 0
        # A company client is its organization (or one of its divisions), never a stranger's name.
        organization = orgs[(i // 5) % len(orgs)] if company else None
        if organization is None:
            name = person_name(rng, i)
        elif i // 5 < len(orgs):
            name = organization.name
        else:
            name = f"{organization.name} — {DIVISIONS[(i // 5) % len(DIVISIONS)]}"
        client = services.record_create(
            instance=Client(
                name=name,
                kind="company" if company else "individual",
                phone=saudi_mobile(rng),
                email=f"client{i}@example.sa",
                organization=organization,
            )
        )
        for j in range(rng.randint(0, 3)):
            services.record_create(
                instance=Contact(
                    name=person_name(rng, i + j + 1),
                    client=client,
                    phone=saudi_mobile(rng),
                    email=f"contact{i}-{j}@example.sa",
                    job_title=rng.choice(["CFO", "مدير قانوني", "HR", "CEO"]),
                )
            )
        for _ in range(rng.randint(0, 3)):
            opened = today - timedelta(days=rng.randint(10, 3 * 365))
            status = rng.choice(list(CaseStatus.values))
            services.record_create(
                instance=Case(
                    title=rng.choice(CASE_TITLES),
                    client=client,
                    lawyer=rng.choice(lawyers) if lawyers else None,
                    case_number=f"{opened.year}-{rng.randrange(10000):04d}",
                    status=status,
                    opened_on=opened,
                    closed_on=opened + timedelta(days=rng.randint(30, 300)) if status == CaseStatus.CLOSED else None,
                    legal_hold=rng.random() < 0.05,
                    court=rng.choice(["المحكمة العمالية بالرياض", "Commercial Court, Jeddah", ""]),
                )
            )
    for i in range(25):
        services.record_create(
            instance=Lead(
                name=person_name(rng, i),
                phone=saudi_mobile(rng),
                email=f"lead{i}@example.sa",
                source=rng.choice(list(LeadSource.values)),
                status=rng.choice(list(LeadStatus.values)),
            )
        )
