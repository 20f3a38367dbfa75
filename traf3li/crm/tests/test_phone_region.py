"""A number written without a country code is read in the firm's phone region (a firm setting)."""


def test_local_numbers_follow_the_firms_phone_region(api_a):
    firm = api_a.get("/api/v1/firm/").json()
    assert firm["phone_region"] == "SA"
    saudi = api_a.post("/api/v1/clients/", {"name": "Riyadh client", "phone": "0501234567"}, format="json")
    assert saudi.status_code == 201 and saudi.json()["phone"] == "+966501234567"
    # when the firm works from Cairo
    assert api_a.patch("/api/v1/firm/", {"phone_region": "EG"}, format="json").status_code == 200
    cairo = api_a.post("/api/v1/clients/", {"name": "Cairo client", "phone": "01001234567"}, format="json")
    assert cairo.status_code == 201 and cairo.json()["phone"] == "+201001234567"
    # a number with its country code is the same whatever the region
    full = api_a.post("/api/v1/clients/", {"name": "Intl client", "phone": "+966501234568"}, format="json")
    assert full.json()["phone"] == "+966501234568"


def test_an_unknown_phone_region_is_400(api_a):
    answer = api_a.patch("/api/v1/firm/", {"phone_region": "XX"}, format="json")
    assert answer.status_code == 400 and "phone_region" in answer.json()
    assert api_a.get("/api/v1/firm/").json()["phone_region"] == "SA"
